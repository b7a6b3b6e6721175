"""Fold inference batch norms and affines into the convolution (or dense layer) before them."""
from __future__ import annotations

import numpy as np

from netc.ir.graph import Graph, Node, Prim, Weight
from netc.ir.prims.affine import is_scalar
from netc.ir.prims.batchnorm import scale_shift
from netc.ir.rewrite import Uses, copy_graph, drop_nodes
from netc.ir.weights import WeightValues

_LINEAR = (Prim.CONV, Prim.DENSE)


def stored_dtype(given: np.ndarray) -> type:
    """Rewritten weights are computed in float64 and stored as precisely as the weights given: float64 for
    float64 inputs (the exact reference of the tests), float32 otherwise (half the memory; backends emit
    float32 anyway)."""
    return np.float64 if given.dtype == np.float64 else np.float32


def bn_scale_shift(node: Node, weights: WeightValues) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, shift) of an inference BN (any channel-wise affine), float64: y = x * scale + shift."""
    scale, shift = scale_shift(node, weights)
    c = node.out.channels
    return np.broadcast_to(scale, (c,)).astype(np.float64), np.broadcast_to(shift, (c,)).astype(np.float64)


def affine_scale_shift(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """An affine's float32 constants (scalars or per channel), widened."""
    return (np.asarray(node.attrs["scale"], np.float32).astype(np.float64),
            np.asarray(node.attrs["offset"], np.float32).astype(np.float64))


def _positive_scale(node: Node | None) -> bool:
    return (node is not None and node.prim is Prim.AFFINE and is_scalar(node) and node.attrs["offset"] == 0.0
            and node.attrs["scale"] > 0.0)


def fold_batchnorm(graph: Graph, weights: WeightValues) -> tuple[Graph, WeightValues]:
    """While a conv's (or dense's) output feeds one node only and is no graph output, the BNs and affines
    after it fold into its kernel and bias (float64). A ReLU followed by a positive scale, as in the SE gate
    ``relu6(x + 3) * 0.16667``, folds too: ``relu(y) * a == relu(a * y)`` for ``a > 0``, so the conv takes
    the scale and the ReLU's top is scaled."""
    g = copy_graph(graph)
    out = dict(weights)
    uses = Uses(g)
    dead: set[int] = set()
    for node in list(g.nodes):
        if node.prim not in _LINEAR or id(node) in dead:
            continue
        run: list[Node] = []
        nxt = uses.sole_reader(node.out)
        while nxt is not None and nxt.prim in (Prim.BATCHNORM, Prim.AFFINE):
            run.append(nxt)
            nxt = uses.sole_reader(nxt.out)
        relu = after = None
        if nxt is not None and nxt.prim is Prim.RELU and _positive_scale(uses.sole_reader(nxt.out)):
            relu, after = nxt, uses.sole_reader(nxt.out)
        if not run and relu is None:
            continue
        scale = shift = None
        for n in run + ([after] if after is not None else []):
            s, t = bn_scale_shift(n, out) if n.prim is Prim.BATCHNORM else affine_scale_shift(n)
            scale, shift = (s, t) if scale is None else (scale * s, shift * s + t)
        _scale_linear(node, out, scale, shift)
        for n in run:
            for w in n.weights.values():
                out.pop(w.name, None)
            dead.add(id(n))
        if run:
            uses.replace(run[-1].out, node.out)
        if relu is not None:
            top = relu.attrs.get("max_value")
            if top is not None:
                relu.attrs["max_value"] = float(np.float32(top) * np.float32(after.attrs["scale"]))
            uses.replace(after.out, relu.out)
            dead.add(id(after))
    drop_nodes(g, dead)
    return g, out


def _scale_linear(node: Node, weights: WeightValues, scale, shift) -> None:
    """kernel * scale (per output channel) and bias * scale + shift, in float64, into ``weights``."""
    kw = node.weights["kernel"]
    given = np.asarray(weights[kw.name])
    dtype = stored_dtype(given)
    cout = given.shape[-1]
    weights[kw.name] = np.multiply(given, np.broadcast_to(np.asarray(scale, np.float64), (cout,)),
                                   dtype=np.float64).astype(dtype, copy=False)
    bw = node.weights.get("bias")
    if bw is not None:
        bias = np.asarray(weights[bw.name], np.float64) * scale + shift
    else:
        bw = Weight(f"{node.name}/bias", (cout,), "bias", (cout,))
        node.weights["bias"] = bw
        bias = shift
    weights[bw.name] = np.broadcast_to(np.asarray(bias, np.float64), (cout,)).astype(dtype)
