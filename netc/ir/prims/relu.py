"""relu: max(x, 0), capped at ``max_value`` when given (ReLU6)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    top = node.attrs.get("max_value")
    ft = ftype(xs[0])
    y = np.maximum(xs[0], ft(0))
    return y if top is None else np.minimum(y, ft(np.float32(top)))


DEF = PrimDef("relu", "max(x, 0), capped at max_value (None or float)", (1, 1), _run,
              attrs=("max_value",), same_shape=True)


class Build:
    def relu(self, x, max_value: float | None = None, name: str = "act"):
        return self._add(DEF.name, [x], x.shape, name, {"max_value": max_value})
