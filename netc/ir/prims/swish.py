"""swish: x * sigmoid(x) (SiLU)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype
from netc.ir.prims.sigmoid import sigmoid


def _run(node, xs, weights):
    return (xs[0] * sigmoid(xs[0])).astype(ftype(xs[0]))


DEF = PrimDef("swish", "x * sigmoid(x)", (1, 1), _run, same_shape=True)


class Build:
    def swish(self, x, name: str = "act"):
        return self._add(DEF.name, [x], x.shape, name)
