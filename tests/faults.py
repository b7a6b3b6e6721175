"""Planted mistakes, as IR passes a test adds to a backend, to prove that comparisons can fail.

Each pass changes what one backend emits in the way a real mapping bug would: a wrong BN epsilon, pads on
the wrong side of a SAME window, PReLU slopes in the wrong layout. They live here, never in netc.
"""
from __future__ import annotations

import numpy as np

from netc.ir.graph import Prim
from netc.ir.rewrite import copy_graph


def bn_epsilon(graph, weights):
    g = copy_graph(graph)
    for n in g.nodes:
        if n.prim is Prim.BATCHNORM:
            n.attrs["epsilon"] = 1e-5
    return g, dict(weights)


def pads(graph, weights):
    g = copy_graph(graph)
    for n in g.nodes:
        p = n.attrs.get("pads")
        if n.attrs.get("padding") == "same" and p is not None and p != (p[2], p[3], p[0], p[1]):
            n.attrs["pads"] = (p[2], p[3], p[0], p[1])
    return g, dict(weights)


def prelu_layout(graph, weights):
    out = dict(weights)
    for n in graph.nodes:
        if n.prim is Prim.PRELU:
            a = np.asarray(weights[n.weights["alpha"].name])
            if a.ndim == 3:
                h, w, c = a.shape
                out[n.weights["alpha"].name] = a.reshape(c, h, w).transpose(1, 2, 0).copy()
    return graph, out


FAULTS = {"bn_epsilon": bn_epsilon, "pads": pads, "prelu_layout": prelu_layout}


def plant(monkeypatch, backend, fault: str) -> None:
    """Make ``backend`` (e.g. netc.backends.ONNX) emit with ``fault`` planted, for this test only."""
    monkeypatch.setattr(backend, "passes", (FAULTS[fault], *backend.passes))
    monkeypatch.setattr(backend, "deploy_passes", (FAULTS[fault], *backend.deploy_passes))
