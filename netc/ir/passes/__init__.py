"""Graph-to-graph rewrites: each pass is ``(graph, weights) -> (graph, weights)``.

A pass returns a new graph and a new weight dict, never changing its arguments; arrays it computes are
computed in float64 and stored in the precision of the weights given (float64 in, float64 out: the exact
reference; float32 otherwise). :func:`run_passes` verifies the graph after every
pass. The passes:

- :func:`fold_batchnorm`: inference BNs and affines after a conv (or dense) fold into its kernel and
  bias; a positive scale after a ReLU moves before it (the SE gate), so it folds too.
- :func:`fuse_branches`: parallel linear branches summed by one add (RepVGG's 3x3, 1x1 and identity)
  become one convolution, exact for the padding each branch uses.
- :func:`strip_inference_identities`: dropout and identity affines vanish.
- :func:`netc.ir.decompose.decompose`: primitives a backend lacks, rewritten into ones it has.
"""
from __future__ import annotations

from typing import Callable, Iterable

from netc.ir.graph import Graph
from netc.ir.weights import WeightValues

Pass = Callable[[Graph, WeightValues], "tuple[Graph, WeightValues]"]


def run_passes(graph: Graph, weights: WeightValues, passes: Iterable[Pass],
               verify: bool = True) -> tuple[Graph, WeightValues]:
    """Apply ``passes`` in order; the verifier checks the graph after each one."""
    from netc.ir.verify import verify_graph
    for p in passes:
        graph, weights = p(graph, weights)
        if verify:
            verify_graph(graph, weights, after=getattr(p, "__name__", str(p)))
    return graph, weights


from netc.ir.passes.fold import fold_batchnorm  # noqa: E402
from netc.ir.passes.fuse import fuse_branches  # noqa: E402
from netc.ir.passes.simplify import strip_inference_identities  # noqa: E402

#: What `--deploy` applies: every BN folded, parallel branches fused, inference identities gone.
DEPLOY: tuple[Pass, ...] = (strip_inference_identities, fold_batchnorm, fuse_branches, fold_batchnorm)

__all__ = ["DEPLOY", "Pass", "fold_batchnorm", "fuse_branches", "run_passes", "strip_inference_identities"]
