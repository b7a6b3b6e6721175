"""Remove what does nothing at inference: dropout, and affines that are the identity."""
from __future__ import annotations

from netc.ir.graph import Graph, Prim
from netc.ir.rewrite import Uses, copy_graph, drop_nodes
from netc.ir.weights import WeightValues


def strip_inference_identities(graph: Graph, weights: WeightValues) -> tuple[Graph, WeightValues]:
    g = copy_graph(graph)
    uses = Uses(g)
    dead: set[int] = set()
    for node in g.nodes:
        identity = node.prim is Prim.DROPOUT or (
            node.prim is Prim.AFFINE and node.attrs["scale"] == 1.0 and node.attrs["offset"] == 0.0)
        if not identity:
            continue
        # an output fed straight from an input keeps its node: a graph output must not be a graph input
        if node.out.id in uses.outputs and node.inputs[0].producer.prim is Prim.INPUT:
            continue
        uses.replace(node.out, node.inputs[0])
        dead.add(id(node))
    drop_nodes(g, dead)
    return g, dict(weights)
