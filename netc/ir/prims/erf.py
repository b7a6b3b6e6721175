"""erf: the error function; made by decompositions (GELU below ONNX opset 20)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype
from netc.ir.prims.gelu import erf64


def _run(node, xs, weights):
    return erf64(xs[0]).astype(ftype(xs[0]))


DEF = PrimDef("erf", "the error function", (1, 1), _run, same_shape=True, lowering_only=True)


class Build:
    def erf(self, x, name: str = "erf"):
        return self._add(DEF.name, [x], x.shape, name)
