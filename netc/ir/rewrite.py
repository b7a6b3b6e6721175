"""Helpers for graph-to-graph rewrites: copying a graph, rewiring uses, removing nodes.

Passes never change the graph they are given: they work on :func:`copy_graph`'s copy, so a compiled
model keeps its training form while a backend emits a rewritten one.
"""
from __future__ import annotations

from netc.ir.graph import Graph, Node, Value, Weight


def copy_graph(graph: Graph) -> Graph:
    """A copy with new nodes and values (ids and names kept); attrs dicts are copied, weights shared."""
    values: dict[int, Value] = {}

    def value(v: Value) -> Value:
        return values[v.id]

    out = Graph(name=graph.name)
    for node in graph.nodes:
        v = Value(node.out.id, node.out.shape, node.out.name)
        values[v.id] = v
        new = Node(node.prim, tuple(value(x) for x in node.inputs), v, node.name, node.origin,
                   dict(node.attrs), dict(node.weights))
        v.producer = new
        out.nodes.append(new)
    out.inputs = [value(v) for v in graph.inputs]
    out.outputs = [(name, value(v)) for name, v in graph.outputs]
    return out


class Uses:
    """Who reads each value, kept current while a pass rewires the graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.readers = graph.consumers()
        self.outputs = {v.id for _, v in graph.outputs}

    def of(self, v: Value) -> list[Node]:
        return self.readers.get(v.id, [])

    def sole_reader(self, v: Value) -> Node | None:
        """The one node reading ``v``, when ``v`` is read once and is no graph output."""
        users = self.of(v)
        return users[0] if len(users) == 1 and v.id not in self.outputs else None

    def replace(self, old: Value, new: Value) -> None:
        """Every read of ``old`` (nodes and graph outputs) reads ``new`` instead."""
        for node in self.of(old):
            node.inputs = tuple(new if x is old else x for x in node.inputs)
            self.readers.setdefault(new.id, []).append(node)
        self.readers.pop(old.id, None)
        g = self.graph
        g.outputs = [(name, new if v is old else v) for name, v in g.outputs]
        if old.id in self.outputs:
            self.outputs.add(new.id)


def drop_nodes(graph: Graph, dead: set[int]) -> None:
    """Remove the nodes whose ``id()`` is in ``dead`` (their outputs must be unread by then)."""
    if dead:
        graph.nodes = [n for n in graph.nodes if id(n) not in dead]


def renamed_weight(w: Weight, shape: tuple[int, ...], name: str | None = None, role: str | None = None) -> Weight:
    """A weight with a new shape (and optionally name/role), its export shape following."""
    return Weight(name or w.name, tuple(shape), role or w.role, tuple(shape), w.trainable, w.fans)
