"""How far float32 rounding can move a network's outputs, measured on the exact network.

`netc check` judges every route against 3x the reference's float32 noise. One float32 run against its
float64 twin is a single draw of that noise, and on an ill-conditioned output the draws spread widely: on
InceptionResNetV2 at 75 px (a nearly saturated softmax), the Keras reference measured 2.8e-5 while the
independent float32 routes differed from it by 1.1e-4 to 1.5e-4. :func:`rounding_spread` draws perturbed
runs of the float64 network on netc's interpreter, every primitive's result multiplied by ``1 + e``, ``e``
uniform with standard deviation ``2**-23`` (a float32 ulp per result; rounding to nearest errs uniformly),
and returns the largest distance from the unperturbed run: 1.3e-4 over three draws there (seeds 1 and 2:
2.5e-4, 7.2e-5; normal draws gave 9.3e-5, 1.4e-4, 1.3e-4).
"""
from __future__ import annotations

import numpy as np

from netc.ir import interp
from netc.ir.graph import Graph, Node
from netc.ir.weights import WeightValues

#: the relative size of one float32 ulp at 1 (twice the worst rounding of a stored result: a primitive's
#: accumulation rounds as well as its store)
FLOAT32_STEP = 2.0 ** -23
#: the width of a uniform perturbation whose standard deviation is FLOAT32_STEP (rounding errors are uniform)
_UNIFORM_WIDTH = FLOAT32_STEP * 12 ** 0.5


def rounding_spread(graph: Graph, weights: WeightValues, feeds: dict[str, np.ndarray], draws: int = 3,
                    seed: int = 0) -> float:
    """max over ``draws`` perturbed float64 runs and over outputs of max|perturbed - exact| / max|exact|."""
    weights = {k: np.asarray(v, np.float64) for k, v in weights.items()}   # once, not in each of the runs
    exact = interp.run(graph, weights, feeds, dtype=np.float64)
    worst = 0.0
    for draw in range(draws):
        rng = np.random.default_rng([seed, draw])

        def perturb(node: Node, y: np.ndarray) -> np.ndarray:
            if not np.issubdtype(y.dtype, np.floating):
                return y
            out = rng.random(y.shape, dtype=np.float32).astype(np.float64)   # u in [0, 1): 6x cheaper than normals
            out -= 0.5
            out *= _UNIFORM_WIDTH
            out += 1.0
            out *= y
            return out

        got = interp.run(graph, weights, feeds, dtype=np.float64, after=perturb)
        for name, ref in exact.items():
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
            if scale > 0:
                worst = max(worst, float(np.max(np.abs(got[name] - ref))) / scale)
    return worst
