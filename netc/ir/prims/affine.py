"""affine: x * scale + offset with float32 scalars (Keras Rescaling; input ops; the scaled residual)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    ft = ftype(xs[0])
    scale, offset = ft(np.float32(node.attrs["scale"])), ft(np.float32(node.attrs["offset"]))
    return (xs[0] * scale + offset).astype(ft)


DEF = PrimDef("affine", "x * scale + offset (float32 scalars); attrs: scale, offset", (1, 1), _run,
              attrs=("scale", "offset"), same_shape=True)


class Build:
    def affine(self, x, scale: float, offset: float, name: str = "affine"):
        return self._add(DEF.name, [x], x.shape, name, {"scale": float(scale), "offset": float(offset)})
