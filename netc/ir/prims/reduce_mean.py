"""reduce_mean: the mean over the channel (last) axis, kept as size 1; made by decompositions (LayerNorm)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    return xs[0].astype(np.float64).mean(axis=-1, keepdims=True).astype(ftype(xs[0]))


def _check(n) -> str | None:
    want = n.inputs[0].shape[:-1] + (1,)
    return None if n.out.shape == want else f"output {n.out.shape}, expected {want}"


DEF = PrimDef("reduce_mean", "mean over the channel axis, keepdims", (1, 1), _run, check=_check,
              lowering_only=True)


class Build:
    def reduce_mean(self, x, name: str = "mean"):
        return self._add(DEF.name, [x], x.shape[:-1] + (1,), name)
