"""The op table: one ONNX emitter per IR primitive (:data:`EMITTERS`)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from netc.backends.onnx.emit import TO_NCHW, TO_NHWC, Emitter
from netc.backends.onnx.prelu import emit_prelu
from netc.backends import nchw
from netc.diagnostics import NetcError
from netc.ir.graph import Node, Prim


def _window_attrs(node: Node) -> dict[str, Any]:
    """kernel_shape, strides and pads (or auto_pad SAME_UPPER where spatial sizes are dynamic)."""
    attrs: dict[str, Any] = {"kernel_shape": list(node.attrs["kernel_size"]),
                             "strides": list(node.attrs["strides"])}
    pads = nchw.window_pads(node)
    if pads is None:
        attrs["auto_pad"] = "SAME_UPPER"
        return attrs
    top, left, bottom, right = pads
    attrs["pads"] = [top, left, bottom, right]   # ONNX: x1_begin, x2_begin, x1_end, x2_end
    return attrs


# ----------------------------------------------------------------------------- emitters
def emit_input(em: Emitter, node: Node) -> None:
    """Graph inputs are wired by :func:`to_onnx`."""


def emit_conv(em: Emitter, node: Node) -> None:
    kernel = nchw.conv_kernel(em.weight(node, "kernel"))
    inputs = [em.xin(node), em.init(node.weights["kernel"].name, kernel)]
    if "bias" in node.weights:
        inputs.append(em.init(node.weights["bias"].name, em.weight(node, "bias")))
    em.add("Conv", inputs, em.out(node), node, group=int(node.attrs.get("groups", 1)),
           dilations=[1, 1], **_window_attrs(node))


def emit_batchnorm(em: Emitter, node: Node) -> None:
    """BatchNormalization when the node has all four BN weights; any other channel-wise affine (BN without
    scale or centre, Normalization, layer scale) as Mul and Add by per-channel constants (float64 folded)."""
    keys = ("gamma", "beta", "moving_mean", "moving_variance")
    if set(node.weights) == set(keys) and node.attrs.get("epsilon_rule", "add") == "add":
        inputs = [em.xin(node)] + [em.init(node.weights[k].name, em.weight(node, k)) for k in keys]
        em.add("BatchNormalization", inputs, em.out(node), node, epsilon=float(node.attrs["epsilon"]))
        return
    from netc.ir.prims.batchnorm import scale_shift
    c = node.out.channels
    values = {w.name: em.weight(node, k) for k, w in node.weights.items()}   # checked and consumed
    scale, shift = (np.broadcast_to(np.asarray(v, np.float64), (c,)) for v in scale_shift(node, values))
    shape = (c, 1, 1) if node.out.rank == 4 else (c,)
    x, out = em.xin(node), em.out(node)
    scaled = em.temp(node, "scaled")
    em.add("Mul", [x, em.init(f"{node.name}/scale", scale.reshape(shape))], scaled, node, "scale")
    em.add("Add", [scaled, em.init(f"{node.name}/shift", shift.reshape(shape))], out, node)


def emit_layernorm(em: Emitter, node: Node) -> None:
    """LayerNormalization over the channels (opset 17; below it the decomposition replaces it): an image
    tensor is NCHW here, so it is normalised between two Transposes."""
    c = node.out.channels
    gamma = em.weight(node, "gamma") if "gamma" in node.weights else np.ones(c, np.float32)
    inputs = [em.init(node.weights["gamma"].name if "gamma" in node.weights else f"{node.name}/gamma", gamma)]
    if "beta" in node.weights:
        inputs.append(em.init(node.weights["beta"].name, em.weight(node, "beta")))
    eps = float(node.attrs["epsilon"])
    if node.out.rank == 2:
        em.add("LayerNormalization", [em.xin(node), *inputs], em.out(node), node, axis=-1, epsilon=eps)
        return
    nhwc, normed = em.temp(node, "nhwc"), em.temp(node, "normed")
    em.add("Transpose", [em.xin(node)], nhwc, node, "nhwc", perm=TO_NHWC)
    em.add("LayerNormalization", [nhwc, *inputs], normed, node, "norm", axis=-1, epsilon=eps)
    em.add("Transpose", [normed], em.out(node), node, perm=TO_NCHW)


def emit_gelu(em: Emitter, node: Node) -> None:
    """Gelu (opset 20, exact form); below it the decomposition into Erf replaces it."""
    em.add("Gelu", [em.xin(node)], em.out(node), node)


def emit_erf(em: Emitter, node: Node) -> None:
    em.add("Erf", [em.xin(node)], em.out(node), node)


def emit_rsqrt(em: Emitter, node: Node) -> None:
    root = em.temp(node, "sqrt")
    em.add("Sqrt", [em.xin(node)], root, node, "sqrt")
    em.add("Reciprocal", [root], em.out(node), node)


def emit_reduce_mean(em: Emitter, node: Node) -> None:
    """The mean over channels: axis 1 of NCHW (or of (N, C))."""
    if em.opset >= 18:
        axes = em.init(f"{node.name}/axes", np.array([1], np.int64), np.int64)
        em.add("ReduceMean", [em.xin(node), axes], em.out(node), node, keepdims=1)
    else:
        em.add("ReduceMean", [em.xin(node)], em.out(node), node, axes=[1], keepdims=1)


def emit_crop(em: Emitter, node: Node) -> None:
    t, l, b, r = node.attrs["crops"]
    big = np.iinfo(np.int64).max
    starts = em.init(f"{node.name}/starts", np.array([t, l], np.int64), np.int64)
    ends = em.init(f"{node.name}/ends", np.array([-b if b else big, -r if r else big], np.int64), np.int64)
    axes = em.init(f"{node.name}/axes", np.array([2, 3], np.int64), np.int64)
    em.add("Slice", [em.xin(node), starts, ends, axes], em.out(node), node)


def _relu(em: Emitter, node: Node, x: str, out: str, top: float | None) -> None:
    if top is None:
        em.add("Relu", [x], out, node)
    else:
        em.add("Clip", [x, em.scalar(0.0), em.scalar(top)], out, node)


def emit_relu(em: Emitter, node: Node) -> None:
    top = node.attrs.get("max_value")
    _relu(em, node, em.xin(node), em.out(node), None if top is None else float(top))


def emit_hardswish(em: Emitter, node: Node) -> None:
    """HardSwish (opset 14); below it the decomposition replaces it."""
    em.add("HardSwish", [em.xin(node)], em.out(node), node)


def emit_sigmoid(em: Emitter, node: Node) -> None:
    em.add("Sigmoid", [em.xin(node)], em.out(node), node)


def emit_affine(em: Emitter, node: Node) -> None:
    scale, offset = node.attrs["scale"], node.attrs["offset"]
    if isinstance(scale, tuple) or isinstance(offset, tuple):   # per channel: (C, 1, 1) constants in NCHW
        shape = (node.out.channels, 1, 1) if node.out.rank == 4 else (node.out.channels,)
        full = [np.broadcast_to(np.asarray(v, np.float32), (node.out.channels,)).reshape(shape)
                for v in (scale, offset)]
        scaled = em.temp(node, "scaled")
        em.add("Mul", [em.xin(node), em.init(f"{node.name}/scale", full[0])], scaled, node, "scale")
        em.add("Add", [scaled, em.init(f"{node.name}/offset", full[1])], em.out(node), node)
        return
    scale, offset = float(scale), float(offset)
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


def emit_add(em: Emitter, node: Node) -> None:
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


def emit_mul(em: Emitter, node: Node) -> None:
    em.add("Mul", [em.xin(node, 0), em.xin(node, 1)], em.out(node), node)


def emit_concat(em: Emitter, node: Node) -> None:
    em.add("Concat", [em.name(v) for v in node.inputs], em.out(node), node, axis=1)


def emit_resize(em: Emitter, node: Node) -> None:
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


def emit_avgpool(em: Emitter, node: Node) -> None:
    em.add("AveragePool", [em.xin(node)], em.out(node), node, count_include_pad=0, **_window_attrs(node))


def emit_maxpool(em: Emitter, node: Node) -> None:
    em.add("MaxPool", [em.xin(node)], em.out(node), node, **_window_attrs(node))


def emit_global_avgpool(em: Emitter, node: Node) -> None:
    if node.attrs.get("keepdims", True):
        em.add("GlobalAveragePool", [em.xin(node)], em.out(node), node)
        return
    pooled = em.temp(node, "pooled")
    em.add("GlobalAveragePool", [em.xin(node)], pooled, node)
    em.add("Flatten", [pooled], em.out(node), node, "flatten", axis=1)


def emit_pad(em: Emitter, node: Node) -> None:
    """Zero padding. Before a MaxPool the zero is written as -0.0 (equal to 0 in every comparison and sum):
    onnxruntime's Pad_Fusion rewrite (ORT_ENABLE_BASIC and up, core/optimizer/pad_fusion.cc) folds a Pad whose
    constant is all zero bytes into the pool's `pads`, which MaxPool ignores (-inf), so a window at the border
    with only negative values (ResNet50V2's stem: conv, ZeroPadding2D, max pool) would lose its zero."""
    t, l, b, r = node.attrs["pads"]
    pads = em.init(f"{node.name}/pads", np.array([0, 0, t, l, 0, 0, b, r], np.int64), np.int64)
    ins = [em.xin(node), pads]
    if any(n.prim is Prim.MAXPOOL for n in _readers(em).get(node.out.id, ())):
        ins.append(em.init(f"{node.name}/value", np.array(-0.0, np.float32)))
    em.add("Pad", ins, em.out(node), node, mode="constant")


def _readers(em: Emitter) -> dict[int, list[Node]]:
    """The graph's consumers per value id, computed once per emitter."""
    if getattr(em, "_readers", None) is None:
        em._readers = em.graph.consumers()
    return em._readers


def emit_flatten(em: Emitter, node: Node) -> None:
    """Keras flattens NHWC: H, W, C order. With H = W = 1 that is NCHW's order too."""
    x = em.xin(node)
    if nchw.flatten_needs_nhwc(node.inputs[0]):
        nhwc = em.temp(node, "nhwc")
        em.add("Transpose", [x], nhwc, node, "nhwc", perm=TO_NHWC)
        x = nhwc
    em.add("Flatten", [x], em.out(node), node, axis=1)


def emit_dense(em: Emitter, node: Node) -> None:
    """Gemm on (N, I); on an image tensor (NCHW here) the same layer is a 1x1 Conv."""
    kernel = em.weight(node, "kernel")
    image = node.inputs[0].rank == 4
    if image:
        kernel = kernel.T.reshape(kernel.shape[1], kernel.shape[0], 1, 1)
    inputs = [em.xin(node), em.init(node.weights["kernel"].name, kernel)]
    if "bias" in node.weights:
        inputs.append(em.init(node.weights["bias"].name, em.weight(node, "bias")))
    if image:
        em.add("Conv", inputs, em.out(node), node, kernel_shape=[1, 1])
    else:
        em.add("Gemm", inputs, em.out(node), node)


def emit_softmax(em: Emitter, node: Node) -> None:
    if node.inputs[0].rank != 2 and em.opset < 13:
        raise NetcError("softmax over an image tensor needs opset 13 or later", node.origin.span)
    axis = -1 if node.inputs[0].rank == 2 else 1
    em.add("Softmax", [em.xin(node)], em.out(node), node, axis=axis)


def emit_dropout(em: Emitter, node: Node) -> None:
    em.add("Identity", [em.xin(node)], em.out(node), node)


EmitFn = Callable[[Emitter, Node], None]
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
    Prim.LAYERNORM: emit_layernorm,
    Prim.GELU: emit_gelu,
    Prim.ERF: emit_erf,
    Prim.RSQRT: emit_rsqrt,
    Prim.REDUCE_MEAN: emit_reduce_mean,
    Prim.CROP: emit_crop,
}


def emitted_prims(opset: int) -> frozenset[Prim]:
    """The primitives this backend writes directly at ``opset``; the rest must be decomposed."""
    prims = set(EMITTERS)
    if opset < 14:
        prims.discard(Prim.HARDSWISH)
    if opset < 17:
        prims.discard(Prim.LAYERNORM)
    if opset < 20:
        prims.discard(Prim.GELU)
    return frozenset(prims)
