"""How far float32 rounding can move a network's outputs, measured on the exact network.

`netc check` judges every route against 3x the reference's float32 noise. One float32 run against its
float64 twin is a single draw of that noise, and on an ill-conditioned output the draws spread widely: on
InceptionResNetV2 at 75 px (a nearly saturated softmax), the Keras reference measured 2.8e-5 while the
independent float32 routes differed from it by 1.1e-4 to 1.5e-4; perturbed runs of the float64 network
measured 1.7e-5 to 8.3e-5. :func:`rounding_spread` draws such runs: the float64 network with every
primitive's result multiplied by ``1 + 2**-23 * N(0, 1)`` (a float32 ulp per result), and returns
the largest distance from the unperturbed run. Intermediates are freed after their last use.
"""
from __future__ import annotations

import numpy as np

from netc.ir.graph import Graph, Prim
from netc.ir.interp import OPS
from netc.ir.weights import WeightValues

#: the relative size of one float32 ulp at 1 (twice the worst rounding of a stored result: a primitive's
#: accumulation rounds as well as its store)
FLOAT32_STEP = 2.0 ** -23


def rounding_spread(graph: Graph, weights: WeightValues, feeds: dict[str, np.ndarray], draws: int = 3,
                    seed: int = 0) -> float:
    """max over ``draws`` perturbed float64 runs and over outputs of max|perturbed - exact| / max|exact|."""
    w64 = {k: np.asarray(v, np.float64) if np.issubdtype(np.asarray(v).dtype, np.floating) else v
           for k, v in weights.items()}
    exact = _run(graph, w64, feeds, None)
    worst = 0.0
    for draw in range(draws):
        got = _run(graph, w64, feeds, np.random.default_rng([seed, draw]))
        for name, ref in exact.items():
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
            if scale > 0:
                worst = max(worst, float(np.max(np.abs(got[name] - ref))) / scale)
    return worst


def _run(graph: Graph, weights: WeightValues, feeds: dict[str, np.ndarray],
         rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[v.id] = i
    kept = {v.id for _, v in graph.outputs}
    env = {v.id: np.asarray(feeds[v.name], np.float64) for v in graph.inputs}
    for i, node in enumerate(graph.nodes):
        if node.prim is Prim.INPUT:
            continue
        y = OPS[node.prim](node, [env[v.id] for v in node.inputs], weights)
        if rng is not None and np.issubdtype(y.dtype, np.floating):
            y = y * (1.0 + FLOAT32_STEP * rng.standard_normal(y.shape))
        env[node.out.id] = y
        for v in node.inputs:
            if last_use[v.id] == i and v.id not in kept:
                env.pop(v.id, None)
    return {name: env[v.id] for name, v in graph.outputs}
