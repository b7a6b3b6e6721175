"""Rewrite primitives a backend lacks into primitives it has (the backend declares what it emits).

Each rule replaces one node by a few nodes of other primitives computing the same function; a backend's
table plus these rules must cover every :class:`Prim` (a test asserts it).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from netc.ir.graph import Graph, Node, Prim, Value
from netc.ir.rewrite import Uses, copy_graph
from netc.ir.weights import WeightValues


class _Emit:
    """Makes the nodes of one rule, named after the node they replace."""

    def __init__(self, graph: Graph, node: Node, next_id: list[int]):
        self.node, self.next_id, self.made = node, next_id, []

    def __call__(self, prim: Prim, inputs: list[Value], suffix: str, **attrs) -> Value:
        self.next_id[0] += 1
        name = f"{self.node.name}/{suffix}"
        v = Value(self.next_id[0], inputs[0].shape, name)
        n = Node(prim, tuple(inputs), v, name, self.node.origin, attrs, {})
        v.producer = n
        self.made.append(n)
        return v


def _hardswish(e: _Emit, x: Value) -> Value:
    """x * relu6(x + 3) / 6 as affine, ReLU6, affine, multiply."""
    t = e(Prim.AFFINE, [x], "plus3", scale=1.0, offset=3.0)
    t = e(Prim.RELU, [t], "relu6", max_value=6.0)
    t = e(Prim.AFFINE, [t], "div6", scale=float(np.float32(1.0) / np.float32(6.0)), offset=0.0)
    return e(Prim.MUL, [x, t], "mul")


def _swish(e: _Emit, x: Value) -> Value:
    """x * sigmoid(x)."""
    return e(Prim.MUL, [x, e(Prim.SIGMOID, [x], "sigmoid")], "mul")


RULES: dict[Prim, Callable[[_Emit, Value], Value]] = {
    Prim.HARDSWISH: _hardswish,
    Prim.SWISH: _swish,
}


def decompose(graph: Graph, weights: WeightValues, prims: frozenset[Prim]) -> tuple[Graph, WeightValues]:
    """Replace every node whose primitive is in ``prims`` by its rule's nodes."""
    missing = sorted(p.value for p in prims if p not in RULES)
    if missing:
        raise ValueError(f"no decomposition for {', '.join(missing)}")
    g = copy_graph(graph)
    if not any(n.prim in prims for n in g.nodes):
        return g, dict(weights)
    uses = Uses(g)
    next_id = [max((n.out.id for n in g.nodes), default=0)]
    nodes: list[Node] = []
    for node in g.nodes:
        if node.prim not in prims:
            nodes.append(node)
            continue
        e = _Emit(g, node, next_id)
        result = RULES[node.prim](e, node.inputs[0])
        result.producer.name, result.name = node.name, node.out.name   # the last node stands for the original
        nodes.extend(e.made)
        uses.replace(node.out, result)
    g.nodes = nodes
    return g, dict(weights)


def decomposer(prims: frozenset[Prim]):
    """The pass that decomposes ``prims`` (named for the verifier's messages)."""
    def decompose_pass(graph: Graph, weights: WeightValues) -> tuple[Graph, WeightValues]:
        return decompose(graph, weights, prims)
    decompose_pass.__name__ = f"decompose({', '.join(sorted(p.value for p in prims))})"
    return decompose_pass
