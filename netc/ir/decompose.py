"""Rewrite primitives a backend lacks into primitives it has (the backend declares what it emits).

Each rule replaces one node by a few nodes of other primitives computing the same function. A rule's nodes
may have other shapes (a reduction), attributes and weights: they take the replaced node's weights (the same
names and values, so weight files and checkpoints stay valid), e.g. LayerNorm's gamma and beta become a
channel-wise affine after the normalisation. Nodes a rule makes are decomposed in turn when their primitive
is also lacking. A backend's table plus these rules must cover every :class:`Prim` (a test asserts it).
"""
from __future__ import annotations

import math
from typing import Callable

from netc.ir.graph import Graph, Node, Prim, Value, Weight
from netc.ir.rewrite import Uses, copy_graph
from netc.ir.weights import WeightValues


class _Emit:
    """Makes the nodes of one rule, named after the node they replace."""

    def __init__(self, node: Node, next_id: list[int]):
        self.node, self.next_id, self.made = node, next_id, []

    def __call__(self, prim: Prim, inputs: list[Value], suffix: str, shape: tuple | None = None,
                 weights: dict[str, Weight] | None = None, **attrs) -> Value:
        self.next_id[0] += 1
        name = f"{self.node.name}/{suffix}"
        v = Value(self.next_id[0], inputs[0].shape if shape is None else tuple(shape), name)
        n = Node(prim, tuple(inputs), v, name, self.node.origin, attrs, dict(weights or {}))
        v.producer = n
        self.made.append(n)
        return v


def _f32(x: float) -> float:
    import numpy as np
    return float(np.float32(x))


def _hardswish(e: _Emit, node: Node) -> Value:
    """x * relu6(x + 3) / 6 as affine, ReLU6, affine, multiply."""
    x = node.inputs[0]
    t = e(Prim.AFFINE, [x], "plus3", scale=1.0, offset=3.0)
    t = e(Prim.RELU, [t], "relu6", max_value=6.0)
    import numpy as np
    t = e(Prim.AFFINE, [t], "div6", scale=float(np.float32(1.0) / np.float32(6.0)), offset=0.0)
    return e(Prim.MUL, [x, t], "mul")


def _swish(e: _Emit, node: Node) -> Value:
    """x * sigmoid(x)."""
    x = node.inputs[0]
    return e(Prim.MUL, [x, e(Prim.SIGMOID, [x], "sigmoid")], "mul")


def _gelu(e: _Emit, node: Node) -> Value:
    """x * (erf(x / sqrt 2) * 0.5 + 0.5) (ONNX below opset 20 has Erf, not Gelu)."""
    x = node.inputs[0]
    t = e(Prim.AFFINE, [x], "div_sqrt2", scale=_f32(1.0 / math.sqrt(2.0)), offset=0.0)
    t = e(Prim.ERF, [t], "erf")
    t = e(Prim.AFFINE, [t], "half", scale=0.5, offset=0.5)
    return e(Prim.MUL, [x, t], "mul")


def _layernorm(e: _Emit, node: Node) -> Value:
    """(x - mean) * rsqrt(mean((x - mean)^2) + eps), then the channel-wise affine holding gamma and beta."""
    x = node.inputs[0]
    stat = x.shape[:-1] + (1,)
    mean = e(Prim.REDUCE_MEAN, [x], "mean", shape=stat)
    neg = e(Prim.AFFINE, [mean], "neg_mean", scale=-1.0, offset=0.0)
    d = e(Prim.ADD, [x, neg], "centred")
    var = e(Prim.REDUCE_MEAN, [e(Prim.MUL, [d, d], "square")], "variance", shape=stat)
    r = e(Prim.RSQRT, [e(Prim.AFFINE, [var], "plus_eps", scale=1.0, offset=_f32(node.attrs["epsilon"]))], "rsqrt")
    y = e(Prim.MUL, [d, r], "normalized")
    if not node.weights:
        return y
    return e(Prim.BATCHNORM, [y], "affine", weights=node.weights, epsilon=0.0, momentum=0.0)


def _sepconv(e: _Emit, node: Node) -> Value:
    """A depthwise conv (its depthwise kernel) then a 1x1 conv (its pointwise kernel and bias)."""
    x = node.inputs[0]
    a = node.attrs
    dw = e(Prim.CONV, [x], "depthwise", shape=node.out.shape[:3] + (x.channels,),
           weights={"kernel": node.weights["depthwise_kernel"]}, kernel_size=a["kernel_size"],
           strides=a["strides"], padding=a["padding"], pads=a["pads"], groups=x.channels)
    pw = {"kernel": node.weights["pointwise_kernel"]}
    if "bias" in node.weights:
        pw["bias"] = node.weights["bias"]
    return e(Prim.CONV, [dw], "pointwise", shape=node.out.shape, weights=pw, kernel_size=(1, 1), strides=(1, 1),
             padding="valid", pads=(0, 0, 0, 0), groups=1)


RULES: dict[Prim, Callable[[_Emit, Node], Value]] = {
    Prim.HARDSWISH: _hardswish,
    Prim.SWISH: _swish,
    Prim.GELU: _gelu,
    Prim.LAYERNORM: _layernorm,
    Prim.SEPCONV: _sepconv,
}


def decompose(graph: Graph, weights: WeightValues, prims: frozenset[Prim]) -> tuple[Graph, WeightValues]:
    """Replace every node whose primitive is in ``prims`` by its rule's nodes (recursively)."""
    missing = sorted(p.value for p in prims if p not in RULES)
    if missing:
        raise ValueError(f"no decomposition for {', '.join(missing)}")
    g = copy_graph(graph)
    if not any(n.prim in prims for n in g.nodes):
        return g, dict(weights)
    uses = Uses(g)
    next_id = [max((n.out.id for n in g.nodes), default=0)]
    nodes: list[Node] = []

    def place(node: Node) -> None:
        if node.prim not in prims:
            nodes.append(node)
            return
        e = _Emit(node, next_id)
        result = RULES[node.prim](e, node)
        result.producer.name, result.name = node.name, node.out.name   # the last node stands for the original
        for made in e.made:   # their reads are known before any of them is itself replaced
            for v in made.inputs:
                uses.readers.setdefault(v.id, []).append(made)
        uses.replace(node.out, result)
        for made in e.made:
            place(made)

    for node in g.nodes:
        place(node)
    g.nodes = nodes
    return g, dict(weights)


def decomposer(prims: frozenset[Prim]):
    """The pass that decomposes ``prims`` (named for the verifier's messages)."""
    def decompose_pass(graph: Graph, weights: WeightValues) -> tuple[Graph, WeightValues]:
        return decompose(graph, weights, prims)
    decompose_pass.__name__ = f"decompose({', '.join(sorted(p.value for p in prims))})"
    return decompose_pass
