"""add: the element-wise sum of two or more tensors (broadcasting), left to right."""
from __future__ import annotations

from typing import Sequence

from netc.ir.prims._base import PrimDef, ftype, same_rank


def _run(node, xs, weights):
    acc = xs[0]
    for x in xs[1:]:
        acc = (acc + x).astype(ftype(xs[0]))
    return acc


DEF = PrimDef("add", "sum of two or more tensors, broadcasting", (2, None), _run, check=same_rank)


class Build:
    def add(self, a, b, name: str = "add", **kw):
        return self.add_n([a, b], name, names=[kw.get("a_name") or a.name, kw.get("b_name") or b.name])

    def add_n(self, xs: Sequence, name: str = "add", names: Sequence[str] | None = None):
        """Element-wise sum of two or more tensors (broadcasting)."""
        from netc.ir.graph import Value
        if len(xs) < 2:
            raise self.error(f"add needs at least 2 tensors, found {len(xs)}")
        names = list(names or [x.name for x in xs])
        shape = xs[0].shape
        for x, n in zip(xs[1:], names[1:]):
            shape = self._broadcast(Value(0, shape, names[0]), x, "add", names[0], n)
        return self._add(DEF.name, list(xs), shape, name)
