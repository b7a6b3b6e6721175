"""input: a named model input (no reference semantics: the interpreter feeds it)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef


def _run(node, xs, weights):  # pragma: no cover - the driver feeds inputs
    raise AssertionError("an input node is fed, not run")


DEF = PrimDef("input", "a model input; attrs: name", (0, 0), _run, attrs=("name",))


class Build:
    def input(self, name: str, shape: tuple):
        from netc.ir.graph import Node, Prim, Value
        self._ids += 1
        v = Value(self._ids, tuple(shape), self._unique(name))
        node = Node(Prim.INPUT, (), v, v.name, self.origin, {"name": name})
        v.producer = node
        self.graph.nodes.append(node)
        self.graph.inputs.append(v)
        return v
