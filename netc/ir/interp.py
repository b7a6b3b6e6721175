"""Pure-numpy reference interpreter of the IR: the driver over each primitive's definition.

Tensors are channels-last (NHWC images, (N, C) features), float32 with sums accumulated in float64; each
primitive returns its input's float type, so the same definitions also run wholly in float64 (``run(...,
dtype=np.float64)``), the exact reference for graph rewrites. Each primitive's definition is ``DEF.run`` in
its file under :mod:`netc.ir.prims`; a backend is correct when it agrees with these.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from netc.ir.graph import Graph, Node, Prim
from netc.ir.prims import DEFS
from netc.ir.prims._window import window_pads  # noqa: F401  (re-exported)
from netc.ir.prims.resize import bilinear_taps  # noqa: F401  (re-exported)
from netc.ir.weights import WeightValues

Array = np.ndarray
OpFn = Callable[[Node, list[Array], WeightValues], Array]

#: Every primitive's reference function (the input is fed, not run).
OPS: dict[Prim, OpFn] = {p: d.run for p, d in DEFS.items() if p is not Prim.INPUT}


def run(graph: Graph, weights: WeightValues, inputs: dict[str, Array],
        before: Callable[[Node, list[Array]], None] | None = None, dtype: type = np.float32,
        after: Callable[[Node, Array], Array] | None = None) -> dict[str, Array]:
    """Evaluate ``graph`` on channels-last ``inputs`` (keyed by input value name); outputs by output name.

    ``before(node, input_arrays)``, when given, is called ahead of each node (calibration uses it);
    ``after(node, result)`` replaces each node's result (the rounding spread perturbs it).
    ``dtype=np.float64`` evaluates every primitive in float64 (weights too): the exact reference that
    proves a graph rewrite exact, where float32 would only agree to rounding. Intermediates are dropped
    after their last use."""
    if dtype is not np.float32:
        weights = {k: np.asarray(v, dtype) for k, v in weights.items()}
    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[v.id] = i
    kept = {v.id for _, v in graph.outputs}
    env: dict[int, Array] = {}
    for v in graph.inputs:
        if v.name not in inputs:
            raise KeyError(f"missing input {v.name!r}")
        env[v.id] = np.asarray(inputs[v.name], dtype=dtype)
    for i, node in enumerate(graph.nodes):
        if node.prim is Prim.INPUT:
            continue
        xs = [env[v.id] for v in node.inputs]
        if before is not None:
            before(node, xs)
        y = OPS[node.prim](node, xs, weights)
        env[node.out.id] = y if after is None else after(node, y)
        for v in node.inputs:
            if last_use[v.id] == i and v.id not in kept:
                env.pop(v.id, None)
    return {name: env[v.id] for name, v in graph.outputs}
