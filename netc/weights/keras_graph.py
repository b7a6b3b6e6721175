"""Both sides of a Keras import reduced to the same thing: a DAG of weighted ops.

A :class:`WNode` is one weighted op (a convolution, a batch norm, a PReLU, a dense layer) with a
*signature* (its kind and the shapes and attributes that decide its weights' meaning) and an
*input expression*: how its input is computed from the nearest weighted ops and the graph inputs.
Unweighted ops with one tensor input (activations, pools, resizes, rescaling, a constant gate
offset) pass their expression through; add and multiply combine theirs (commutative), concat keeps
the order. Expressions are nested tuples, canonical so that two graphs computing the same thing from
the same parents get equal expressions:

    ("in", 0)                   the model's first input
    ("w", 12)                   the output of weighted node 12
    ("+", (e1, e2))             an add (children sorted; "*" for multiply)
    ("cat", (e1, e2))           a channel concat, in order
    ("op:Subtract", (e1, e2))   any other op with several tensor inputs, in order

The netc IR is reduced by :func:`ir_dag`; a loaded Keras model by ``keras_source.keras_dag``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from netc.ir.graph import Graph, Node, Prim
from netc.weights.kinds import KINDS, ROLES as KIND_ROLES, kind_of_node
from netc.weights.kinds.conv import conv_sig  # noqa: F401 (re-exported for the readers)

Expr = Any          # nested tuples, see the module docstring; None for "derived from no input"
COMMUTATIVE = {"+", "*"}
FLATTEN = {"+", "*", "cat"}

# The IR weight roles of each weighted kind, in the order a Keras layer holds them: netc/weights/kinds/.
ROLES = KIND_ROLES


@dataclass(eq=False)
class WNode:
    """One weighted op of either graph."""

    key: int
    kind: str                               # conv | bn | prelu | dense
    sig: tuple                              # kind, shapes and attributes that must agree
    expr: Expr                              # input expression over other nodes' keys
    name: str                               # IR node name, or source layer name
    type: str = ""                          # source layer class (Conv2D, ...); IR prim for IR nodes
    soft: dict[str, Any] = field(default_factory=dict)   # attributes compared with a warning only
    node: Node | None = None                # IR side: the node
    variables: dict[str, str] = field(default_factory=dict)        # source side: role -> variable path
    read: Callable[[str], np.ndarray] | None = None                # source side: role -> array
    created: tuple | None = None    # source side: its creation rank, where the names record it (``conv2d_3``)
    position: tuple | None = None   # source side (.weights.h5): (class name, number in model.layers, sublayer)


@dataclass
class Dag:
    """Weighted nodes in topological order, the number of inputs, and the output expressions."""

    nodes: list[WNode] = field(default_factory=list)
    n_inputs: int = 0
    input_channels: list[int | None] = field(default_factory=list)
    outputs: list[Expr] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    order_by: str = "kind"          # weights-only sources: "kind", or "class" (Keras layer class)
    source_kind: str = ""           # source side: the format, for messages (".weights.h5 file")
    unordered_outputs: bool = False  # outputs of a signature (a dict): paired by what computes them

    def add(self, **kw: Any) -> WNode:
        n = WNode(key=len(self.nodes), **kw)
        self.nodes.append(n)
        return n


# ------------------------------------------------------------------ expressions
def combine(op: str, children: Iterable[Expr]) -> Expr:
    """The canonical expression of ``op`` over ``children`` (None children are constants and vanish)."""
    kids: list[Expr] = []
    for c in children:
        if c is None:
            continue
        if op in FLATTEN and isinstance(c, tuple) and c[0] == op:
            kids.extend(c[1])
        else:
            kids.append(c)
    if op in COMMUTATIVE:
        kids = sorted(set(kids), key=repr)
    if not kids:
        return None
    if len(kids) == 1:
        return kids[0]
    return (op, tuple(kids))


def leaves(expr: Expr) -> list[Expr]:
    """The ``("w", k)`` and ``("in", i)`` leaves of ``expr``, in order, repeats removed."""
    out: list[Expr] = []

    def visit(e: Expr) -> None:
        if e is None:
            return
        if e[0] in ("w", "in"):
            if e not in out:
                out.append(e)
        else:
            for c in e[1]:
                visit(c)
    visit(expr)
    return out


def substitute(expr: Expr, image: Callable[[Expr], Expr]) -> Expr:
    """``expr`` with each leaf replaced by ``image(leaf)``, made canonical again."""
    if expr is None:
        return None
    if expr[0] in ("w", "in"):
        return image(expr)
    return combine(expr[0], (substitute(c, image) for c in expr[1]))


def roles_in(expr: Expr, leaf: Expr) -> tuple:
    """Where ``leaf`` occurs in ``expr``: the ops on the way down (concat with its position)."""
    found: list[tuple] = []

    def visit(e: Expr, path: tuple) -> None:
        if e is None:
            return
        if e[0] in ("w", "in"):
            if e == leaf:
                found.append(path)
            return
        for i, c in enumerate(e[1]):
            visit(c, path + ((e[0], i if e[0] not in COMMUTATIVE else 0),))
    visit(expr, ())
    return tuple(sorted(found))


def fingerprints(dag: Dag, depth: int) -> list[str]:
    """A hash per node of its signature and what lies up to ``depth`` weighted ops downstream of it
    (consumers, their signatures, the roles it plays in their inputs, the outputs it reaches). Comparable
    between the two graphs: look-alike branches are told apart by what they feed."""
    consumers: dict[int, list[WNode]] = {}
    for n in dag.nodes:
        for leaf in leaves(n.expr):
            if leaf[0] == "w":
                consumers.setdefault(leaf[1], []).append(n)
    roles = {n.key: sorted((c.key, roles_in(c.expr, ("w", n.key))) for c in consumers.get(n.key, []))
             for n in dag.nodes}
    outs = {n.key: sorted((i, roles_in(e, ("w", n.key))) for i, e in enumerate(dag.outputs)
                          if ("w", n.key) in leaves(e)) for n in dag.nodes}
    fps = [repr(n.sig) for n in dag.nodes]
    for _ in range(depth):
        fps = [_hash((n.sig, sorted((fps[c], r) for c, r in roles[n.key]), outs[n.key])) for n in dag.nodes]
    return fps


def _hash(x: Any) -> str:
    return hashlib.sha1(repr(x).encode()).hexdigest()


# ------------------------------------------------------------------ describing
def describe_sig(sig: tuple) -> str:
    """A signature in words: ``a 3x3 conv 16 -> 24 channels, stride 2``."""
    kind = KINDS.get(sig[0])
    if kind is not None:
        return kind.describe(sig)
    if sig[0] == "weights":   # order-paired sources: shapes only
        return f"a {sig[1]} with weights " + ", ".join(fmt_shape(s) for s in sig[2])
    return repr(sig)


def fmt_shape(s: Iterable[int]) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def difference(a: tuple, b: tuple) -> str:
    """What differs between two signatures, in words (``a different kernel size: 3x3 vs 5x5``)."""
    if a[0] != b[0]:
        return "a different kind of layer"
    kind = KINDS.get(a[0])
    said = kind.difference(a, b) if kind is not None else None
    return said or f"different weight shapes: {describe_sig(a)} in the spec, {describe_sig(b)} in the source"


# ------------------------------------------------------------------ the IR side
def _ir_sig(node: Node) -> tuple[str, tuple, dict]:
    prim = node.prim.value if isinstance(node.prim, Prim) else str(node.prim)
    kind = kind_of_node(node)
    if kind is None:
        raise NotImplementedError(f"netc cannot pair weights of IR prim {prim!r} with a Keras model")
    sig, soft = kind.ir_sig(node)
    return kind.name, sig, soft


_IR_OPS = {"add": "+", "mul": "*", "concat": "cat"}


class _Part:
    """One half of a separable conv seen as a conv of its own: a view holding some of the node's weights under
    the conv's roles (its other fields are the node's)."""

    def __init__(self, node: Node, weights: dict):
        self._node, self.weights = node, weights

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


def _separable(dag: Dag, node: Node, expr: Expr) -> Expr:
    w, a = node.weights, node.attrs
    kh, kw, _, c = w["depthwise_kernel"].shape
    depthwise = _Part(node, {"kernel": w["depthwise_kernel"]})
    pointwise = _Part(node, {"kernel": w["pointwise_kernel"], **({"bias": w["bias"]} if "bias" in w else {})})
    dw = dag.add(kind="conv", sig=conv_sig(kh, kw, 1, c, c, a["strides"], (1, 1), False), expr=expr,
                 name=f"{node.name}/depthwise", type=node.prim.value, soft={"padding": a["padding"]}, node=depthwise)
    o = node.out.shape[-1]
    pw = dag.add(kind="conv", sig=conv_sig(1, 1, c, o, 1, (1, 1), (1, 1), "bias" in w), expr=("w", dw.key),
                 name=f"{node.name}/pointwise", type=node.prim.value, soft={"padding": "same"}, node=pointwise)
    return ("w", pw.key)


def ir_dag(graph: Graph) -> Dag:
    """The spec's weighted ops, in graph order, with their input expressions."""
    dag = Dag(n_inputs=len(graph.inputs), input_channels=[v.shape[-1] for v in graph.inputs])
    exprs: dict[int, Expr] = {}
    for i, v in enumerate(graph.inputs):
        exprs[v.id] = ("in", i)
    for node in graph.nodes:
        if node.prim is Prim.INPUT:
            continue
        ins = [exprs.get(v.id) for v in node.inputs]
        if node.prim is Prim.SEPCONV:   # two weighted ops, as the source side reads a SeparableConv2D
            exprs[node.out.id] = _separable(dag, node, combine("cat", ins))
        elif node.weights:
            kind, sig, soft = _ir_sig(node)
            expr = combine("cat", ins)   # weighted ops take one input
            wn = dag.add(kind=kind, sig=sig, expr=expr, name=node.name, type=node.prim.value, soft=soft,
                         node=node)
            exprs[node.out.id] = ("w", wn.key)
        else:
            op = _IR_OPS.get(node.prim.value, f"op:{node.prim.value}")
            exprs[node.out.id] = combine(op, ins)
    dag.outputs = [exprs.get(v.id) for _, v in graph.outputs]
    dag.output_names = [n for n, _ in graph.outputs]
    return dag
