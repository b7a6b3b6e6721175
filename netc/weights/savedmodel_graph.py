"""A SavedModel's serving signature as a weighted-op DAG: the structure a SavedModel pairs by.

The signature's function is frozen (``convert_variables_to_constants_v2``: every call inlined, every
variable read a constant), and its ops are reduced like a Keras graph (keras_graph.py): ``Conv2D``,
``DepthwiseConv2dNative``, ``MatMul`` (each with the ``BiasAdd`` after it) and ``FusedBatchNorm*`` are
weighted nodes; adds, multiplies and concats combine; any other op with one tensor input passes through.
Each constant is traced back to the SavedModel variable holding the same values, so the pairing names
the variables. ``None`` is returned when the graph holds float constants of size > 1 that none of these
ops consumes (a layer netc does not read from a graph, e.g. a decomposed batch norm): the caller then
pairs by the variables' order, with its rules.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from netc.weights.keras_graph import Dag, Expr, combine, conv_sig

_WEIGHTED = {"Conv2D", "DepthwiseConv2dNative", "MatMul", "FusedBatchNorm", "FusedBatchNormV3"}
_MERGE = {"AddV2": "+", "Add": "+", "AddN": "+", "Mul": "*", "ConcatV2": "cat"}
_SHAPE_OPS = {"Shape", "ShapeN", "Size", "Rank"}


def _key(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr)
    return hashlib.sha1(str((a.dtype.str, a.shape)).encode() + a.tobytes()).hexdigest()


def serving_dag(loaded: Any, tf: Any) -> tuple[Dag, Any] | None:
    """The weighted-op DAG of ``loaded``'s serving signature and the signature itself, or None (see above)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    sigs = getattr(loaded, "signatures", {})
    if not sigs:
        return None
    fn = sigs["serving_default"] if "serving_default" in sigs else next(iter(sigs.values()))
    try:
        frozen = convert_variables_to_constants_v2(fn)
    except Exception:  # noqa: BLE001 - a graph TF cannot freeze: pair by order instead
        return None
    gd = frozen.graph.as_graph_def()
    var_by_key: dict[str, str] = {}
    for v in getattr(loaded, "variables", []):
        if v.dtype.is_floating:
            var_by_key.setdefault(_key(v.numpy()), v.name.rsplit(":", 1)[0])
    dag = _Reducer(gd, tf, var_by_key, [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]).run()
    if dag is None:
        return None
    outs = fn.structured_outputs
    if isinstance(outs, dict) and len(outs) == len(dag.outputs):
        dag.output_names = sorted(outs)   # the order tf.nest flattens the outputs in, as frozen.outputs
    return dag, fn


class _Reducer:
    def __init__(self, gd: Any, tf: Any, var_by_key: dict[str, str], inputs: list[str], outputs: list[str]):
        self.tf = tf
        self.nodes = {n.name: n for n in gd.node}
        self.consumers: dict[str, list[Any]] = {}
        for n in gd.node:
            for i in n.input:
                if not i.startswith("^"):
                    self.consumers.setdefault(_base(i), []).append(n)
        self.var_by_key = var_by_key
        self.inputs = [_base(t) for t in inputs]
        self.outputs = outputs
        self.exprs: dict[str, Expr] = {}
        self.used_consts: set[str] = set()
        self.dag = Dag(n_inputs=len(inputs))

    def run(self) -> Dag | None:
        for i, name in enumerate(self.inputs):
            self.exprs[name + ":0"] = ("in", i)
            shape = self.nodes[name].attr["shape"].shape
            dims = [d.size for d in shape.dim]
            self.dag.input_channels.append(dims[-1] if dims and dims[-1] > 0 else None)
        try:
            self.dag.outputs = [self.expr(t) for t in self.outputs]
        except _Unsupported:
            return None
        self.dag.output_names = [_base(t) for t in self.outputs]
        self.dag.unordered_outputs = True
        for n in self.nodes.values():   # weights the reduction did not read: netc cannot pair from this graph
            if n.op == "Const" and n.name not in self.used_consts and self._is_weight_like(n):
                if self._reachable_const(n.name):
                    return None
        return self.dag if self.dag.nodes else None

    # ---------------------------------------------------------------- helpers
    def _is_weight_like(self, n: Any) -> bool:
        t = n.attr["value"].tensor
        dims = [d.size for d in t.tensor_shape.dim]
        return t.dtype in (1, 2, 19, 14) and int(np.prod(dims or [1])) > 1   # float, double, half, bfloat16

    def _reachable_const(self, name: str) -> bool:
        """Whether the constant feeds anything that reaches an output (not only dead bookkeeping)."""
        return bool(self.consumers.get(name))

    def const(self, tensor: str) -> tuple[np.ndarray, str] | None:
        """The value behind ``tensor`` (through Identity ops) and its Const node's name, or None."""
        name = _base(tensor)
        seen = 0
        while name in self.nodes and self.nodes[name].op == "Identity" and seen < 64:
            name = _base(self.nodes[name].input[0])
            seen += 1
        n = self.nodes.get(name)
        if n is None or n.op != "Const":
            return None
        return self.tf.make_ndarray(n.attr["value"].tensor), name

    def weight(self, tensor: str) -> tuple[np.ndarray, str]:
        c = self.const(tensor)
        if c is None:
            raise _Unsupported
        arr, cname = c
        self.used_consts.add(cname)
        return arr, self.var_by_key.get(_key(arr), cname)

    def expr(self, tensor: str) -> Expr:
        tensor = tensor if ":" in tensor else tensor + ":0"
        if tensor in self.exprs:
            return self.exprs[tensor]
        stack = [tensor]
        while stack:   # iterative post-order: deep graphs must not hit Python's recursion limit
            t = stack[-1]
            if t in self.exprs:
                stack.pop()
                continue
            n = self.nodes.get(_base(t))
            if n is None:
                raise _Unsupported
            deps = [i if ":" in i else i + ":0" for i in self._data_inputs(n)]
            todo = [d for d in deps if d not in self.exprs and self.const(d) is None]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            self.exprs[t] = self._reduce(n, t)
        return self.exprs[tensor]

    def _data_inputs(self, n: Any) -> list[str]:
        ins = [i for i in n.input if not i.startswith("^")]
        if n.op in _WEIGHTED:
            return ins[:1]
        return ins

    def _child(self, t: str) -> Expr:
        t = t if ":" in t else t + ":0"
        return None if self.const(t) is not None else self.exprs[t]

    def _reduce(self, n: Any, t: str) -> Expr:
        op = n.op
        if op == "Placeholder":
            raise _Unsupported   # an input the signature does not name
        if op in _WEIGHTED:
            if not t.endswith(":0"):
                raise _Unsupported   # FusedBatchNorm's batch statistics: training graphs only
            return self._weighted(n)
        if op in _SHAPE_OPS:   # shapes computed from a tensor (a nearest upsampling's reshape): constants
            return None
        ins = [i for i in n.input if not i.startswith("^")]
        if op == "BiasAdd":   # a bias not absorbed by its conv (after a non-conv op)
            raise _Unsupported
        if op == "ConcatV2":
            axis = self.const(ins[-1])
            kids = [self._child(i) for i in ins[:-1]]
            ax = int(axis[0]) if axis is not None else None
            return combine("cat" if ax in (-1, 3) else f"op:Concat(axis={ax})", kids)
        kids = [self._child(i) for i in ins]
        return combine(_MERGE.get(op, f"op:{op}"), kids)

    def _weighted(self, n: Any) -> Expr:
        ins = [i for i in n.input if not i.startswith("^")]
        x = self._child(ins[0])
        layer = _layer_name(n.name)
        attrs = n.attr
        if n.op in ("FusedBatchNorm", "FusedBatchNormV3"):
            if attrs["data_format"].s not in (b"NHWC", b""):
                raise _Unsupported
            vals = [self.weight(i) for i in ins[1:5]]
            roles = ("gamma", "beta", "moving_mean", "moving_variance")
            c = int(vals[0][0].shape[0])
            node = self.dag.add(kind="bn", sig=("bn", c), expr=x, name=layer, type="FusedBatchNorm",
                                soft={"epsilon": float(attrs["epsilon"].f)},
                                variables={r: v for r, (_, v) in zip(roles, vals)},
                                read=_reader({r: a for r, (a, _) in zip(roles, vals)}))
            return ("w", node.key)
        kernel, kname = self.weight(ins[1])
        bias = self._bias(n)
        vs = {"kernel": (kernel, kname)} | ({"bias": bias} if bias else {})
        if n.op == "MatMul":
            if attrs["transpose_a"].b or attrs["transpose_b"].b:
                raise _Unsupported
            k = kernel.shape
            sig, soft, kind, tname = ("dense", int(k[0]), int(k[1]), bool(bias)), {}, "dense", "MatMul"
        else:
            if attrs["data_format"].s not in (b"NHWC", b""):
                raise _Unsupported
            strides = tuple(attrs["strides"].list.i)[1:3]
            dil = tuple(attrs["dilations"].list.i)[1:3] or (1, 1)
            pad = attrs["padding"].s.decode().lower()
            if pad not in ("same", "valid"):
                raise _Unsupported
            k = kernel.shape
            if n.op == "DepthwiseConv2dNative":
                sig = conv_sig(k[0], k[1], 1, k[2] * k[3], k[2], strides, dil, bool(bias))
                tname = "DepthwiseConv2dNative"
            else:
                sig = conv_sig(k[0], k[1], k[2], k[3], 1, strides, dil, bool(bias))
                tname = "Conv2D"
            soft = {"padding": "same" if tuple(k[:2]) == (1, 1) else pad}
            kind = "conv"
        node = self.dag.add(kind=kind, sig=sig, expr=x, name=layer, type=tname, soft=soft,
                            variables={r: v for r, (_, v) in vs.items()},
                            read=_reader({r: a for r, (a, _) in vs.items()}))
        out = ("w", node.key)
        if bias:
            self.exprs[self._bias_node + ":0"] = out
        return out

    def _bias(self, n: Any) -> tuple[np.ndarray, str] | None:
        users = self.consumers.get(n.name, [])
        if len(users) != 1 or users[0].op not in ("BiasAdd", "AddV2", "Add"):
            return None
        u = users[0]
        ins = [i for i in u.input if not i.startswith("^")]
        other = [i for i in ins if _base(i) != n.name]
        if len(other) != 1:
            return None
        c = self.const(other[0])
        if c is None or c[0].ndim != 1:
            return None
        self._bias_node = u.name
        return self.weight(other[0])


class _Unsupported(Exception):
    pass


def _base(tensor: str) -> str:
    return tensor.lstrip("^").split(":", 1)[0]


def _layer_name(op_name: str) -> str:
    """``StatefulPartitionedCall/model/bottleneck/conv2d_3/Conv2D`` -> ``model/bottleneck/conv2d_3``."""
    parts = [p for p in op_name.split("/") if not p.startswith(("StatefulPartitionedCall", "PartitionedCall"))]
    return "/".join(parts[:-1]) or op_name


def _reader(arrays: dict[str, np.ndarray]):
    def read(role: str) -> np.ndarray:
        return arrays[role]
    return read
