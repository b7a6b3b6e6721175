"""ONNX backend: IR graph + weight values -> ``onnx.ModelProto`` (NCHW inside, no TensorFlow).

Each :class:`Prim` the backend emits has one function in :data:`EMITTERS`; what it lacks (swish; hard-swish
below opset 14) is decomposed by :mod:`netc.ir.decompose`, and BN folding runs as an IR pass before
emission (:data:`netc.backends.ONNX`). Tensors keep the IR value names, nodes the IR node names,
initializers the checkpoint weight names; the output is byte-identical for identical inputs.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

import netc
from netc.diagnostics import NetcError
from netc.ir.naming import UniqueNames
from netc.ir.graph import Graph, Node, Prim, Value
from netc.ir.weights import WeightValues

MIN_OPSET = 11
IO_LAYOUTS = ("nchw", "nhwc")
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class _Emitter:
    """State of one conversion: tensor names per IR value, nodes and initializers so far."""

    def __init__(self, graph: Graph, weights: WeightValues, opset: int, sink: "ExternalData | None" = None):
        self.graph, self.weights, self.opset, self.sink = graph, weights, opset, sink
        self.consume = False
        self.tensors, self.node_names = UniqueNames(), UniqueNames()  # ONNX keeps the two apart
        self.node_names.used.update(n.name for n in graph.nodes)
        self.names: dict[int, str] = {}
        self.model = onnx.ModelProto()
        self.body = self.model.graph           # nodes and initializers are written in place (no copies)
        self.scalars: dict[float, str] = {}    # scalar initializers, shared by value
        self.attributes: dict[tuple, bytes] = {}   # each distinct set of attributes, serialized once

    # ------------------------------------------------------------- names, tensors
    def name(self, v: Value) -> str:
        return self.names[v.id]

    def xin(self, node: Node, i: int = 0) -> str:
        return self.names[node.inputs[i].id]

    def out(self, node: Node) -> str:
        if node.out.id not in self.names:
            self.names[node.out.id] = self.tensors.unique(node.out.name)
        return self.names[node.out.id]

    def init(self, base: str, array: np.ndarray, dtype: type = np.float32) -> str:
        """Add a float32 (or int64) initializer; returns its (unique) name."""
        name = self.tensors.unique(base)
        arr = np.asarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
        t = self.body.initializer.add()
        t.name = name
        t.data_type = TensorProto.INT64 if arr.dtype.kind == "i" else TensorProto.FLOAT
        t.dims.extend(arr.shape)
        if self.sink is not None and arr.dtype.kind == "f" and self.sink.add(t, arr):
            return name   # streamed as it is (a transposed view is written in slabs, never copied whole)
        if not arr.flags.c_contiguous:   # (ascontiguousarray would make scalars 1-D)
            arr = np.ascontiguousarray(arr)
        t.raw_data = arr.tobytes()
        return name

    def scalar(self, value: float) -> str:
        """A float32 scalar initializer, one per value for the whole graph."""
        key = float(np.float32(value))
        if key not in self.scalars:
            self.scalars[key] = self.init(f"const/{key:g}", np.array(key, np.float32))
        return self.scalars[key]

    def weight(self, node: Node, key: str) -> np.ndarray:
        w = node.weights[key]
        if w.name not in self.weights:
            raise NetcError(f"no value for weight `{w.name}`", node.origin.span)
        arr = np.asarray(self.weights.pop(w.name) if self.consume else self.weights[w.name])
        arr = arr.astype(np.float32, copy=False)
        if arr.shape != w.shape:
            raise NetcError(f"weight `{w.name}` has shape {arr.shape}, expected {w.shape}", node.origin.span)
        return arr

    def temp(self, node: Node, what: str) -> str:
        return self.tensors.unique(f"{node.name}/{what}")

    # ------------------------------------------------------------------- nodes
    def add(self, op: str, inputs: list[str], output: str, node: Node | None,
            suffix: str = "", **attrs: Any) -> None:
        """Append one ONNX node; the main node of an IR node takes its name, helpers a suffix."""
        if node is None:
            name, doc = self.node_names.unique(f"{output}/{op.lower()}"), ""
        else:
            name = node.name if not suffix else self.node_names.unique(f"{node.name}/{suffix}")
            doc = doc_string(node)
        n = self.body.node.add()
        n.op_type, n.name = op, name
        n.input.extend(inputs)
        n.output.append(output)
        if doc:
            n.doc_string = doc
        if attrs:
            key = tuple((k, type(v), tuple(v) if isinstance(v, list) else v) for k, v in sorted(attrs.items()))
            blob = self.attributes.get(key)
            if blob is None:
                holder = onnx.NodeProto()
                holder.attribute.extend(_attribute(k, attrs[k]) for k in sorted(attrs))
                blob = self.attributes[key] = holder.SerializeToString()
            n.MergeFromString(blob)   # appends the attributes: faster than copying them one by one


def _attribute(key: str, value: Any) -> onnx.AttributeProto:
    """What ``helper.make_attribute`` makes for the few kinds of attributes netc emits, without its checks."""
    a = onnx.AttributeProto()
    a.name = key
    if isinstance(value, int):
        a.type, a.i = onnx.AttributeProto.INT, int(value)
    elif isinstance(value, float):
        a.type, a.f = onnx.AttributeProto.FLOAT, value
    elif isinstance(value, str):
        a.type, a.s = onnx.AttributeProto.STRING, value.encode("utf-8")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        a.type = onnx.AttributeProto.INTS
        a.ints.extend(value)
    else:  # pragma: no cover - a new kind of attribute: keep onnx's own conversion
        a = helper.make_attribute(key, value)
    return a


def doc_string(node: Node) -> str:
    """``FILE:LINE:COL: BLOCK-TEXT`` of the spec block a node comes from."""
    o = node.origin
    return o.text if o.span is None else f"{o.span}: {o.text}"


# ----------------------------------------------------------------------------- helpers
def _window_attrs(node: Node) -> dict[str, Any]:
    """kernel_shape, strides and pads (or auto_pad SAME_UPPER where spatial sizes are dynamic)."""
    attrs: dict[str, Any] = {"kernel_shape": list(node.attrs["kernel_size"]),
                             "strides": list(node.attrs["strides"])}
    pads, same = node.attrs.get("pads"), node.attrs.get("padding") == "same"
    if pads is None and not same:
        pads = (0, 0, 0, 0)
    if pads is None:
        attrs["auto_pad"] = "SAME_UPPER"
        return attrs
    top, left, bottom, right = pads
    attrs["pads"] = [top, left, bottom, right]   # ONNX: x1_begin, x2_begin, x1_end, x2_end
    return attrs


# ----------------------------------------------------------------------------- emitters
def emit_input(em: _Emitter, node: Node) -> None:
    """Graph inputs are wired by :func:`to_onnx`."""


def emit_conv(em: _Emitter, node: Node) -> None:
    kernel = em.weight(node, "kernel").transpose(3, 2, 0, 1)
    inputs = [em.xin(node), em.init(node.weights["kernel"].name, kernel)]
    if "bias" in node.weights:
        inputs.append(em.init(node.weights["bias"].name, em.weight(node, "bias")))
    em.add("Conv", inputs, em.out(node), node, group=int(node.attrs.get("groups", 1)),
           dilations=[1, 1], **_window_attrs(node))


def emit_batchnorm(em: _Emitter, node: Node) -> None:
    inputs = [em.xin(node)] + [em.init(node.weights[k].name, em.weight(node, k))
                               for k in ("gamma", "beta", "moving_mean", "moving_variance")]
    em.add("BatchNormalization", inputs, em.out(node), node, epsilon=float(node.attrs["epsilon"]))


def _relu(em: _Emitter, node: Node, x: str, out: str, top: float | None) -> None:
    if top is None:
        em.add("Relu", [x], out, node)
    else:
        em.add("Clip", [x, em.scalar(0.0), em.scalar(top)], out, node)


def emit_relu(em: _Emitter, node: Node) -> None:
    top = node.attrs.get("max_value")
    _relu(em, node, em.xin(node), em.out(node), None if top is None else float(top))


def emit_hardswish(em: _Emitter, node: Node) -> None:
    """HardSwish (opset 14); below it the decomposition replaces it."""
    em.add("HardSwish", [em.xin(node)], em.out(node), node)


def emit_sigmoid(em: _Emitter, node: Node) -> None:
    em.add("Sigmoid", [em.xin(node)], em.out(node), node)


#: Test and benchmark hook: emit every PReLU in this form (one of :data:`PRELU_FORMS`), not the chosen one.
PRELU_FORCE: str | None = None


def prelu_form(slope: np.ndarray) -> str:
    """The fastest ONNX form that computes PRelu(x, slope) bit for bit on onnxruntime for every x (signed
    zeros, infinities and NaN included), chosen from the compile-time slopes (measured order: docs/benchmarks.md):

    - one slope (the same bits) for every element: ``leaky``, LeakyRelu(alpha), PRelu's formula; onnxruntime
      fuses it into the Conv before it;
    - all slopes in (0, 1]: ``max``, Max(x, x * s): for x < 0, x * s lies between x and 0, for x > 0 below x;
      -0 * s is -0. A zero slope is left out (+inf * 0 is NaN);
    - all slopes in [1, inf): ``min``, Min(x, x * s), by the mirror argument;
    - otherwise ``prelu``, ONNX's PRelu op: the general forms built of standard ops are no faster on
      onnxruntime and not bit-exact (its Where, and any sum of two halves, turn a -0 result into +0).
    """
    s = np.ascontiguousarray(slope, dtype=np.float32).ravel()
    bits = s.view(np.uint32)
    if s.size == 0 or bool(np.all(bits == bits[0])):   # bits: -0.0 and 0.0 are two slopes
        return "leaky"
    if bool(np.all((s > 0) & (s <= 1))):
        return "max"
    if bool(np.all((s >= 1) & np.isfinite(s))):
        return "min"
    return "prelu"


def emit_prelu(em: _Emitter, node: Node) -> None:
    """PReLU in the form :func:`prelu_form` picks (or :data:`PRELU_FORCE`); slopes are NCHW (C, H, W)."""
    alpha = em.weight(node, "alpha")
    slope = alpha.transpose(2, 0, 1) if alpha.ndim == 3 else alpha   # (H, W, C) -> (C, H, W); (C,) as is
    form = PRELU_FORCE or prelu_form(slope)
    if form not in _PRELU_EMITTERS:
        raise ValueError(f"unknown PReLU form {form!r} (expected one of {', '.join(PRELU_FORMS)})")
    _PRELU_EMITTERS[form](em, node, em.xin(node), em.out(node), slope)


def _prelu_op(em: _Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    em.add("PRelu", [x, em.init(node.weights["alpha"].name, slope)], out, node)


def _prelu_leaky(em: _Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    alpha = float(slope.flat[0]) if slope.size else 0.0
    em.add("LeakyRelu", [x], out, node, alpha=alpha)


def _prelu_minmax(op: str) -> Callable[[_Emitter, Node, str, str, np.ndarray], None]:
    def emit(em: _Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
        scaled = em.temp(node, "scaled")
        em.add("Mul", [x, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
        em.add(op, [x, scaled], out, node)
    emit.__doc__ = f"{op}(x, x * slope)."
    return emit


def _prelu_where(em: _Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    """Where(x < 0, x * s, x): PRelu's definition, but onnxruntime's Where returns +0 for a -0 it selects."""
    negative, scaled = em.temp(node, "negative"), em.temp(node, "scaled")
    em.add("Less", [x, em.scalar(0.0)], negative, node, "less")
    em.add("Mul", [x, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
    em.add("Where", [negative, scaled, x], out, node)


def _prelu_relu_min(em: _Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    """Relu(x) + s * Min(x, 0): equal in value, but the sign of a zero result can differ (benchmarks only)."""
    pos, neg, scaled = em.temp(node, "relu"), em.temp(node, "min0"), em.temp(node, "scaled")
    em.add("Relu", [x], pos, node, "relu")
    em.add("Min", [x, em.scalar(0.0)], neg, node, "min")
    em.add("Mul", [neg, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
    em.add("Add", [pos, scaled], out, node)


_PRELU_EMITTERS = {"prelu": _prelu_op, "leaky": _prelu_leaky, "max": _prelu_minmax("Max"),
                   "min": _prelu_minmax("Min"), "where": _prelu_where, "relu_min": _prelu_relu_min}
#: PReLU forms: those :func:`prelu_form` chooses ("prelu" is ONNX's own PRelu op), and two general forms kept
#: for the benchmark's comparison only ("where", "relu_min": not bit-exact, see their docstrings).
PRELU_FORMS = tuple(_PRELU_EMITTERS)


def emit_affine(em: _Emitter, node: Node) -> None:
    scale, offset = float(node.attrs["scale"]), float(node.attrs["offset"])
    x, out = em.xin(node), em.out(node)
    if scale == 1.0 and offset == 0.0:
        em.add("Identity", [x], out, node)
        return
    suffix = ""
    if scale != 1.0:
        scaled = out if offset == 0.0 else em.temp(node, "scaled")
        em.add("Mul", [x, em.scalar(scale)], scaled, node)
        x, suffix = scaled, "add"
    if offset != 0.0:
        em.add("Add", [x, em.scalar(offset)], out, node, suffix)


def emit_add(em: _Emitter, node: Node) -> None:
    """Add of two tensors; of more, a chain of Adds in input order, ((x0 + x1) + x2) + ..., as the IR sums
    them. Not ONNX's Sum: onnxruntime fuses an Add (and the Relu after it) into the convolution that produces
    one of its inputs, and a chain of Adds into one convolution each, but leaves Sum a node of its own
    (RepVGG's three branches: 17 Sum and 17 Relu nodes left unfused, 1.02-1.05x tf2onnx's latency)."""
    names = [em.name(v) for v in node.inputs]
    acc = names[0]
    for k, x in enumerate(names[1:], start=1):
        last = k == len(names) - 1
        out = em.out(node) if last else em.temp(node, f"sum{k}")
        em.add("Add", [acc, x], out, node, "" if last else f"sum{k}")
        acc = out


def emit_mul(em: _Emitter, node: Node) -> None:
    em.add("Mul", [em.xin(node, 0), em.xin(node, 1)], em.out(node), node)


def emit_concat(em: _Emitter, node: Node) -> None:
    em.add("Concat", [em.name(v) for v in node.inputs], em.out(node), node, axis=1)


def emit_resize(em: _Emitter, node: Node) -> None:
    sh, sw = node.attrs["scale"]
    mode = node.attrs["mode"]
    if mode == "bilinear":
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    elif mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        raise NetcError(f"the ONNX backend cannot express resize mode `{mode}`", node.origin.span)
    roi = "" if em.opset >= 13 else em.init(f"{node.name}/roi", np.zeros((0,), np.float32))
    scales = em.init(f"{node.name}/scales", np.array([1, 1, sh, sw], np.float32))
    em.add("Resize", [em.xin(node), roi, scales], em.out(node), node, **attrs)


def emit_avgpool(em: _Emitter, node: Node) -> None:
    em.add("AveragePool", [em.xin(node)], em.out(node), node, count_include_pad=0, **_window_attrs(node))


def emit_maxpool(em: _Emitter, node: Node) -> None:
    em.add("MaxPool", [em.xin(node)], em.out(node), node, **_window_attrs(node))


def emit_global_avgpool(em: _Emitter, node: Node) -> None:
    if node.attrs.get("keepdims", True):
        em.add("GlobalAveragePool", [em.xin(node)], em.out(node), node)
        return
    pooled = em.temp(node, "pooled")
    em.add("GlobalAveragePool", [em.xin(node)], pooled, node)
    em.add("Flatten", [pooled], em.out(node), node, "flatten", axis=1)


def emit_pad(em: _Emitter, node: Node) -> None:
    t, l, b, r = node.attrs["pads"]
    pads = em.init(f"{node.name}/pads", np.array([0, 0, t, l, 0, 0, b, r], np.int64), np.int64)
    em.add("Pad", [em.xin(node), pads], em.out(node), node, mode="constant")


def emit_flatten(em: _Emitter, node: Node) -> None:
    """Keras flattens NHWC: H, W, C order. With H = W = 1 that is NCHW's order too."""
    _, h, w, _ = node.inputs[0].shape
    x = em.xin(node)
    if (h, w) != (1, 1):
        nhwc = em.temp(node, "nhwc")
        em.add("Transpose", [x], nhwc, node, "nhwc", perm=TO_NHWC)
        x = nhwc
    em.add("Flatten", [x], em.out(node), node, axis=1)


def emit_dense(em: _Emitter, node: Node) -> None:
    inputs = [em.xin(node), em.init(node.weights["kernel"].name, em.weight(node, "kernel"))]
    if "bias" in node.weights:
        inputs.append(em.init(node.weights["bias"].name, em.weight(node, "bias")))
    em.add("Gemm", inputs, em.out(node), node)


def emit_softmax(em: _Emitter, node: Node) -> None:
    if node.inputs[0].rank != 2 and em.opset < 13:
        raise NetcError("softmax over an image tensor needs opset 13 or later", node.origin.span)
    axis = -1 if node.inputs[0].rank == 2 else 1
    em.add("Softmax", [em.xin(node)], em.out(node), node, axis=axis)


def emit_dropout(em: _Emitter, node: Node) -> None:
    em.add("Identity", [em.xin(node)], em.out(node), node)


EmitFn = Callable[[_Emitter, Node], None]
EMITTERS: dict[Prim, EmitFn] = {
    Prim.INPUT: emit_input,
    Prim.CONV: emit_conv,
    Prim.BATCHNORM: emit_batchnorm,
    Prim.RELU: emit_relu,
    Prim.HARDSWISH: emit_hardswish,
    Prim.SIGMOID: emit_sigmoid,
    Prim.PRELU: emit_prelu,
    Prim.AFFINE: emit_affine,
    Prim.ADD: emit_add,
    Prim.MUL: emit_mul,
    Prim.CONCAT: emit_concat,
    Prim.RESIZE: emit_resize,
    Prim.AVGPOOL: emit_avgpool,
    Prim.MAXPOOL: emit_maxpool,
    Prim.GLOBAL_AVGPOOL: emit_global_avgpool,
    Prim.PAD: emit_pad,
    Prim.FLATTEN: emit_flatten,
    Prim.DENSE: emit_dense,
    Prim.SOFTMAX: emit_softmax,
    Prim.DROPOUT: emit_dropout,
}


def emitted_prims(opset: int) -> frozenset[Prim]:
    """The primitives this backend writes directly at ``opset``; the rest must be decomposed."""
    prims = set(EMITTERS)
    if opset < 14:
        prims.discard(Prim.HARDSWISH)
    return frozenset(prims)


# ----------------------------------------------------------------------------- model
def _value_info(name: str, v: Value, layout: str) -> onnx.ValueInfoProto:
    """float32 tensor info; batch is the symbolic "N", dynamic H/W are "<name>_H" / "<name>_W"."""
    if v.rank == 2:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", v.shape[1]])
    _, h, w, c = v.shape
    hd = h if h is not None else f"{name}_H"
    wd = w if w is not None else f"{name}_W"
    dims = ["N", c, hd, wd] if layout == "nchw" else ["N", hd, wd, c]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _wire_inputs(em: _Emitter, graph: Graph, layout: str) -> list[onnx.ValueInfoProto]:
    infos = []
    for v in graph.inputs:
        em.tensors.used.add(v.name)
        infos.append(_value_info(v.name, v, layout))
        if layout == "nchw" or v.rank != 4:
            em.names[v.id] = v.name
        else:
            em.names[v.id] = em.tensors.unique(f"{v.name}/nchw")
            em.add("Transpose", [v.name], em.names[v.id], None, perm=TO_NCHW)
    return infos


def _reserve_outputs(em: _Emitter, graph: Graph, layout: str) -> None:
    """Let each (first-named) output value be computed straight into its output tensor (NCHW io)."""
    em.tensors.used.update(name for name, _ in graph.outputs)
    inputs = {v.id for v in graph.inputs}
    for name, v in graph.outputs:
        if (layout == "nchw" or v.rank != 4) and v.id not in em.names and v.id not in inputs:
            em.names[v.id] = name


def _name_values(em: _Emitter, graph: Graph) -> None:
    """Claim every emitted IR value's own name before helpers and initializers take names."""
    for node in graph.nodes:
        if node.prim is not Prim.INPUT:
            em.out(node)


def _wire_outputs(em: _Emitter, graph: Graph, layout: str) -> list[onnx.ValueInfoProto]:
    infos = []
    for name, v in graph.outputs:
        infos.append(_value_info(name, v, layout))
        if layout == "nhwc" and v.rank == 4:
            em.add("Transpose", [em.name(v)], name, None, perm=TO_NHWC)
        elif em.name(v) != name:
            em.add("Identity", [em.name(v)], name, None)
    return infos


def check_options(opset: int, io_layout: str) -> None:
    top = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= top:
        raise NetcError(f"ONNX opset {opset} is not supported (netc emits opsets {MIN_OPSET} to {top})")
    if io_layout not in IO_LAYOUTS:
        raise NetcError(f"unknown io layout `{io_layout}` (expected one of {', '.join(IO_LAYOUTS)})")


def to_onnx(graph: Graph, weights: WeightValues, *, opset: int = 17, io_layout: str = "nchw",
            sink: "ExternalData | None" = None, consume: bool = False) -> onnx.ModelProto:
    """Emit ``graph`` with weight values ``weights`` (IR layout) as an ONNX model, node for node.

    Inside, image tensors are NCHW; with ``io_layout="nhwc"`` a Transpose follows each image input and
    precedes each image output. The graph must hold only primitives of :func:`emitted_prims` (the
    backend object :data:`netc.backends.ONNX` runs the folding and decomposition passes first). With a
    ``sink``, initializers of 1 KiB and more go to its file as they are made (ONNX external data, see
    :func:`write_onnx`) and the model only refers to them.
    """
    check_options(opset, io_layout)
    supported = emitted_prims(opset)
    for node in graph.nodes:
        if node.prim not in supported:
            raise NetcError(f"the ONNX backend cannot express {node.prim}", node.origin.span)
    em = _Emitter(graph, weights, opset, sink)
    em.consume = consume   # the caller's own dict: each array is let go once it is in the model (peak memory)
    inputs = _wire_inputs(em, graph, io_layout)
    _reserve_outputs(em, graph, io_layout)
    _name_values(em, graph)
    for node in graph.nodes:
        EMITTERS[node.prim](em, node)
    outputs = _wire_outputs(em, graph, io_layout)
    body, model = em.body, em.model
    body.name = graph.name
    body.input.extend(inputs)
    body.output.extend(outputs)
    opsets = [helper.make_opsetid("", opset)]
    model.opset_import.extend(opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    model.producer_name, model.producer_version = "netc", netc.__version__
    return model


def _varint(n: int) -> bytes:
    if n <= 0x7F:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_prefix(number: int, size: int) -> bytes:
    """Tag and length of a length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(size)


def _split_fields(msg: Any, number: int) -> tuple[bytes, bytes]:
    """``msg`` without field ``number``, serialized as its fields before it and its fields after it."""
    lo, hi = type(msg)(), type(msg)()
    for fd, value in msg.ListFields():
        if fd.number == number:
            continue
        part = lo if fd.number < number else hi
        if fd.is_repeated:
            getattr(part, fd.name).extend(value)
        elif fd.message_type is not None:
            getattr(part, fd.name).CopyFrom(value)
        else:
            setattr(part, fd.name, value)
    return lo.SerializeToString(), hi.SerializeToString()


def _write_model(model: onnx.ModelProto, f: Any) -> None:
    """Write ``model.SerializeToString()`` to ``f`` in pieces, one initializer at a time, so that the
    model is never copied whole into memory (twice, inside protobuf). Protobuf writes fields in number
    order, and so does this: the bytes are the same."""
    graph = model.graph
    head, tail = _split_fields(model, model.DESCRIPTOR.fields_by_name["graph"].number)
    g_head, g_tail = _split_fields(graph, graph.DESCRIPTOR.fields_by_name["initializer"].number)
    number = graph.DESCRIPTOR.fields_by_name["initializer"].number
    sizes = [t.ByteSize() for t in graph.initializer]
    size = len(g_head) + len(g_tail) + sum(len(_len_prefix(number, n)) + n for n in sizes)
    f.write(head)
    f.write(_len_prefix(model.DESCRIPTOR.fields_by_name["graph"].number, size))
    f.write(g_head)
    tag = _varint(number << 3 | 2)
    for t, n in zip(graph.initializer, sizes):
        f.writelines((tag, _varint(n), t.SerializeToString()))
    f.write(g_tail)
    f.write(tail)


#: Protobuf cannot parse a message of 2 GiB or more: above this many bytes of weights, external data.
EXTERNAL_AUTO_BYTES = 2**31 - 2**26   # 2 GiB less 64 MiB for the graph itself


class ExternalData:
    """ONNX external data written as the backend makes it: each initializer of ``threshold`` bytes or more is
    appended to one data file (at an offset aligned to ``ALIGN`` bytes, so onnxruntime can map it from the
    file instead of copying it), and its TensorProto gets ``data_location = EXTERNAL`` with location, offset
    and length instead of ``raw_data``. A strided array (a transposed kernel) is written in slabs, so the
    file is written without a whole second copy of any tensor in memory."""

    ALIGN = 4096
    SLAB_BYTES = 16 * 2**20

    def __init__(self, f: Any, location: str, threshold: int = 1024):
        self.f, self.location, self.threshold, self.offset = f, location, threshold, 0

    def add(self, t: onnx.TensorProto, arr: np.ndarray) -> bool:
        """Write ``arr`` (float32, any strides) for ``t``; False (nothing done) when it is too small."""
        if arr.nbytes < self.threshold:
            return False
        pad = -self.offset % self.ALIGN
        if pad:
            self.f.write(b"\0" * pad)
        start = self.offset + pad
        if arr.flags.c_contiguous:
            self.f.write(memoryview(arr).cast("B"))
        else:   # each slab copied in its source's memory order first (reads runs, not single floats)
            rows = max(1, self.SLAB_BYTES // max(1, arr[0].nbytes))
            for i in range(0, arr.shape[0], rows):
                slab = np.ascontiguousarray(np.array(arr[i:i + rows], order="K"))
                self.f.write(memoryview(slab).cast("B"))
        self.offset = start + arr.nbytes
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.location), ("offset", str(start)), ("length", str(arr.nbytes))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return True


def needs_external_data(weights: WeightValues) -> bool:
    """Whether a model of these weights passes protobuf's 2 GiB limit (:data:`EXTERNAL_AUTO_BYTES`)."""
    return 4 * sum(int(np.asarray(a).size) for a in weights.values()) > EXTERNAL_AUTO_BYTES   # float32 as written


def write_onnx(graph: Graph, weights: WeightValues, path: str | os.PathLike, *,
               external_data: bool | None = None, **kwargs: Any) -> onnx.ModelProto:
    """Convert (:func:`to_onnx`, ``kwargs``) and write ``path`` atomically; returns the model as written.

    ``external_data``: True puts the weights in ``<path>.data`` beside the model (ONNX external data, the
    location relative to the model), False keeps them inside, None (default) chooses external data when
    the weights pass protobuf's 2 GiB limit. The data file is written while the model is made; both are
    renamed into place only once both are complete."""
    if external_data is None:
        external_data = needs_external_data(weights)
    if not external_data:
        model = to_onnx(graph, weights, **kwargs)
        save_onnx(model, path)
        return model
    from netc.atomic import atomic_file
    path = os.fspath(path)
    data_path = path + ".data"
    # both files are written under temporary names; the model's rename comes first, the data's at once after:
    # a failure anywhere before leaves an existing model and its data as they were
    with atomic_file(data_path, suffix=".data.tmp") as (_, f):
        model = to_onnx(graph, weights, sink=ExternalData(f, os.path.basename(data_path)), **kwargs)
        save_onnx(model, path)
    return model


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` atomically (netc/atomic.py)."""
    from netc.atomic import atomic_file
    with atomic_file(path, suffix=".onnx.tmp") as (_, fh):
        _write_model(model, fh)
