"""mul: the element-wise product of two tensors (broadcasting)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, same_rank


def _run(node, xs, weights):
    return (xs[0] * xs[1]).astype(ftype(xs[0]))


DEF = PrimDef("mul", "product of two tensors, broadcasting", (2, 2), _run, check=same_rank)


class Build:
    def mul(self, a, b, name: str = "mul", a_name: str | None = None, b_name: str | None = None):
        return self._add(DEF.name, [a, b], self._broadcast(a, b, "mul", a_name, b_name), name)
