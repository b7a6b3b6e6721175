"""rsqrt: 1 / sqrt(x); made by decompositions (LayerNorm below ONNX opset 17)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    return (1.0 / np.sqrt(xs[0].astype(np.float64))).astype(ftype(xs[0]))


DEF = PrimDef("rsqrt", "1 / sqrt(x)", (1, 1), _run, same_shape=True, lowering_only=True)


class Build:
    def rsqrt(self, x, name: str = "rsqrt"):
        return self._add(DEF.name, [x], x.shape, name)
