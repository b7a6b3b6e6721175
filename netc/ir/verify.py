"""The IR verifier: every node against its primitive's contract (inputs, ranks, shapes, attributes, weights).

It runs after lowering and after every pass; a failure is netc's bug, never the user's, so it raises
:class:`VerifyError` naming the node and the pass that broke it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from netc.ir.graph import Graph, Node, Prim

if TYPE_CHECKING:  # pragma: no cover - numpy stays unimported on the summary path
    from netc.ir.weights import WeightValues


class VerifyError(AssertionError):
    """An IR invariant does not hold."""


@dataclass(frozen=True)
class PrimSpec:
    inputs: tuple[int, int | None]                  # (min, max) number of inputs
    ranks: tuple[int, ...] = (2, 4)                 # ranks its (first) input may have
    attrs: tuple[str, ...] = ()                     # required attributes
    weights: tuple[str, ...] = ()                   # required weights
    optional: tuple[str, ...] = ()                  # optional weights
    same_shape: bool = False                        # output shape == first input's shape
    check: Callable[[Node], str | None] | None = field(default=None, compare=False)


def _conv(n: Node) -> str | None:
    x, y = n.inputs[0], n.out
    groups = n.attrs["groups"]
    kh, kw = n.attrs["kernel_size"]
    want = (kh, kw, x.channels // groups, y.channels)
    k = n.weights["kernel"].shape
    if x.channels % groups or y.channels % groups:
        return f"{x.channels} -> {y.channels} channels do not divide into {groups} groups"
    if k != want:
        return f"kernel shape {k}, expected {want}"
    if "bias" in n.weights and n.weights["bias"].shape != (y.channels,):
        return f"bias shape {n.weights['bias'].shape}, expected ({y.channels},)"
    return _window(n)


def _window(n: Node) -> str | None:
    pads = n.attrs.get("pads")
    if n.attrs["padding"] not in ("same", "valid"):
        return f"padding {n.attrs['padding']!r}"
    if pads is not None and (len(pads) != 4 or min(pads) < 0):
        return f"pads {pads}"
    x, y = n.inputs[0], n.out
    if pads is not None and None not in x.shape[1:3] and None not in y.shape[1:3]:
        (kh, kw), (sh, sw) = n.attrs["kernel_size"], n.attrs["strides"]
        oh = (x.shape[1] + pads[0] + pads[2] - kh) // sh + 1
        ow = (x.shape[2] + pads[1] + pads[3] - kw) // sw + 1
        if (oh, ow) != tuple(y.shape[1:3]):
            return f"output {y.shape[1:3]} does not follow from input {x.shape[1:3]}, pads {pads}"
    return None


def _per_channel(*keys: str) -> Callable[[Node], str | None]:
    def check(n: Node) -> str | None:
        c = n.inputs[0].channels
        for k in keys:
            if n.weights[k].shape != (c,):
                return f"weight {k} shape {n.weights[k].shape}, expected ({c},)"
        return None
    return check


def _prelu(n: Node) -> str | None:
    x = n.inputs[0]
    a = n.weights["alpha"].shape
    if x.rank == 2:
        return None if a == (x.channels,) else f"alpha shape {a}, expected ({x.channels},)"
    ok = len(a) == 3 and a[2] == x.channels and all(d == 1 or d == s for d, s in zip(a[:2], x.shape[1:3]))
    return None if ok else f"alpha shape {a} does not broadcast over {x.shape}"


def _dense(n: Node) -> str | None:
    want = (n.inputs[0].channels, n.out.channels)
    if n.weights["kernel"].shape != want:
        return f"kernel shape {n.weights['kernel'].shape}, expected {want}"
    if "bias" in n.weights and n.weights["bias"].shape != (n.out.channels,):
        return f"bias shape {n.weights['bias'].shape}"
    return None


def _same_rank(n: Node) -> str | None:
    ranks = {v.rank for v in n.inputs}
    return None if len(ranks) == 1 else f"inputs of ranks {sorted(ranks)}"


def _concat(n: Node) -> str | None:
    msg = _same_rank(n)
    if msg:
        return msg
    c = sum(v.channels for v in n.inputs)
    return None if n.out.channels == c else f"output has {n.out.channels} channels, inputs sum to {c}"


def _flatten(n: Node) -> str | None:
    _, h, w, c = n.inputs[0].shape
    return None if n.out.shape[1:] == (h * w * c,) else f"output {n.out.shape} from input {n.inputs[0].shape}"


SPECS: dict[Prim, PrimSpec] = {
    Prim.INPUT: PrimSpec((0, 0), attrs=("name",)),
    Prim.AFFINE: PrimSpec((1, 1), attrs=("scale", "offset"), same_shape=True),
    Prim.CONV: PrimSpec((1, 1), ranks=(4,), attrs=("kernel_size", "strides", "padding", "pads", "groups"),
                        weights=("kernel",), optional=("bias",), check=_conv),
    Prim.BATCHNORM: PrimSpec((1, 1), attrs=("epsilon", "momentum"),
                             weights=("gamma", "beta", "moving_mean", "moving_variance"), same_shape=True,
                             check=_per_channel("gamma", "beta", "moving_mean", "moving_variance")),
    Prim.RELU: PrimSpec((1, 1), attrs=("max_value",), same_shape=True),
    Prim.HARDSWISH: PrimSpec((1, 1), same_shape=True),
    Prim.SWISH: PrimSpec((1, 1), same_shape=True),
    Prim.SIGMOID: PrimSpec((1, 1), same_shape=True),
    Prim.PRELU: PrimSpec((1, 1), attrs=("shared_axes",), weights=("alpha",), same_shape=True, check=_prelu),
    Prim.ADD: PrimSpec((2, None), check=_same_rank),
    Prim.MUL: PrimSpec((2, 2), check=_same_rank),
    Prim.CONCAT: PrimSpec((2, None), check=_concat),
    Prim.RESIZE: PrimSpec((1, 1), ranks=(4,), attrs=("scale", "mode")),
    Prim.AVGPOOL: PrimSpec((1, 1), ranks=(4,), attrs=("kernel_size", "strides", "padding", "pads"), check=_window),
    Prim.MAXPOOL: PrimSpec((1, 1), ranks=(4,), attrs=("kernel_size", "strides", "padding", "pads"), check=_window),
    Prim.GLOBAL_AVGPOOL: PrimSpec((1, 1), ranks=(4,), attrs=("keepdims",)),
    Prim.PAD: PrimSpec((1, 1), ranks=(4,), attrs=("pads",)),
    Prim.FLATTEN: PrimSpec((1, 1), ranks=(4,), check=_flatten),
    Prim.DENSE: PrimSpec((1, 1), ranks=(2,), weights=("kernel",), optional=("bias",), check=_dense),
    Prim.SOFTMAX: PrimSpec((1, 1), same_shape=True),
    Prim.DROPOUT: PrimSpec((1, 1), attrs=("rate",), same_shape=True),
}


def _node_problem(n: Node, defined: set[int], weights: WeightValues | None) -> str | None:
    spec = SPECS.get(n.prim)
    if spec is None:
        return f"primitive {n.prim.value} has no contract in netc/ir/verify.py"
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
    extra = set(n.weights) - set(spec.weights) - set(spec.optional)
    if extra:
        return f"unexpected weights {sorted(extra)}"
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
