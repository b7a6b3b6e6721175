"""The IR verifier: every node against its primitive's contract (inputs, ranks, shapes, attributes, weights).

It runs after lowering and after every pass; a failure is netc's bug, never the user's, so it raises
:class:`VerifyError` naming the node and the pass that broke it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from netc.ir.graph import Graph, Node, Prim
from netc.ir.prims import DEFS

if TYPE_CHECKING:  # pragma: no cover - numpy stays unimported on the summary path
    from netc.ir.weights import WeightValues


class VerifyError(AssertionError):
    """An IR invariant does not hold."""


#: Each primitive's declarative contract and check, from its file under netc/ir/prims/.
SPECS = DEFS


def _node_problem(n: Node, defined: set[int], weights: WeightValues | None) -> str | None:
    spec = SPECS.get(n.prim)
    if spec is None:
        return f"primitive {n.prim.value} has no definition under netc/ir/prims/"
    lo, hi = spec.inputs
    if len(n.inputs) < lo or (hi is not None and len(n.inputs) > hi):
        return f"{len(n.inputs)} inputs, expected {lo}" + ("" if hi == lo else f" to {hi or 'any'}")
    for v in n.inputs:
        if v.id not in defined:
            return f"input `{v.name}` is not computed before it"
    if n.inputs and n.inputs[0].rank not in spec.ranks:
        return f"input of rank {n.inputs[0].rank} ({n.inputs[0].shape}); expected rank {' or '.join(map(str, spec.ranks))}"
    if n.out.producer is not n:
        return "its output value names another producer"
    for a in spec.attrs:
        if a not in n.attrs:
            return f"attribute `{a}` is missing"
    for k in spec.weights:
        if k not in n.weights:
            return f"weight `{k}` is missing"
    extra = set(n.weights) - set(spec.roles)
    if extra:
        return f"unexpected weights {sorted(extra)}"
    for k, w in n.weights.items():
        if w.role not in spec.roles[k]:
            return f"weight `{k}` has role {w.role!r}, expected {' or '.join(spec.roles[k])}"
    if spec.same_shape and n.out.shape != n.inputs[0].shape:
        return f"output shape {n.out.shape} differs from input shape {n.inputs[0].shape}"
    if spec.check is not None:
        msg = spec.check(n)
        if msg:
            return msg
    if weights is not None:
        for k, w in n.weights.items():
            if w.name not in weights:
                return f"weight `{k}` ({w.name}) has no value"
            shape = tuple(getattr(weights[w.name], "shape", ()))
            if shape != w.shape:
                return f"weight `{k}` ({w.name}) has a value of shape {shape}, expected {w.shape}"
    return None


def verify_graph(graph: Graph, weights: WeightValues | None = None, after: str = "lowering") -> None:
    """Raise :class:`VerifyError` at the first node that breaks its primitive's contract."""
    defined: set[int] = set()
    names: set[str] = set()
    for n in graph.nodes:
        msg = _node_problem(n, defined, weights)
        if msg is None and n.name in names:
            msg = "its name is used by another node"
        if msg is not None:
            where = f" ({n.origin.span}: {n.origin.text})" if n.origin.span is not None else ""
            raise VerifyError(f"IR check after {after}: node `{n.name}` ({n.prim.value}){where}: {msg}")
        names.add(n.name)
        defined.add(n.out.id)
    for v in graph.inputs:
        if v.producer is None or v.producer.prim is not Prim.INPUT:
            raise VerifyError(f"IR check after {after}: graph input `{v.name}` is not an input node")
    for name, v in graph.outputs:
        if v.id not in defined:
            raise VerifyError(f"IR check after {after}: output `{name}` reads `{v.name}`, which no node computes")
