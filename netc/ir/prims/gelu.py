"""gelu: the exact GELU, x * (1 + erf(x / sqrt 2)) / 2 (Keras ``Activation("gelu")``, ONNX Gelu)."""
from __future__ import annotations

import math

from netc.ir.prims._base import PrimDef, ftype, np


def erf64(x):
    """erf in float64 (math.erf per element: numpy has none)."""
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


def _run(node, xs, weights):
    x = xs[0].astype(np.float64)
    return (0.5 * x * (1.0 + erf64(x / math.sqrt(2.0)))).astype(ftype(xs[0]))


DEF = PrimDef("gelu", "x * (1 + erf(x / sqrt 2)) / 2 (exact, not the tanh form)", (1, 1), _run, same_shape=True)


class Build:
    def gelu(self, x, name: str = "act"):
        return self._add(DEF.name, [x], x.shape, name)
