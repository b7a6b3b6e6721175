"""affine: x * scale + offset with float32 constants, scalars or one per channel (Keras Rescaling; input ops;
the scaled residual; Normalization by constants)."""
from __future__ import annotations

from typing import Sequence

from netc.ir.prims._base import PrimDef, ftype, np


def constant(v) -> float | tuple[float, ...]:
    """A scalar, or a per-channel tuple, as float32 values (kept as Python floats)."""
    if isinstance(v, (tuple, list)):
        return tuple(float(np.float32(e)) for e in v)
    return float(v)


def _run(node, xs, weights):
    ft = ftype(xs[0])
    scale = np.asarray(node.attrs["scale"], np.float32).astype(ft)
    offset = np.asarray(node.attrs["offset"], np.float32).astype(ft)
    return (xs[0] * scale + offset).astype(ft)


def _check(n) -> str | None:
    c = n.inputs[0].channels
    for key in ("scale", "offset"):
        v = n.attrs[key]
        if isinstance(v, tuple) and len(v) != c:
            return f"{key} has {len(v)} values for {c} channels"
    return None


def is_scalar(node) -> bool:
    return not isinstance(node.attrs["scale"], tuple) and not isinstance(node.attrs["offset"], tuple)


DEF = PrimDef("affine", "x * scale + offset (float32 scalars or per-channel tuples); attrs: scale, offset", (1, 1),
              _run, attrs=("scale", "offset"), same_shape=True, check=_check)


class Build:
    def affine(self, x, scale: float | Sequence[float], offset: float | Sequence[float], name: str = "affine"):
        return self._add(DEF.name, [x], x.shape, name, {"scale": constant(scale), "offset": constant(offset)})
