"""Pair the spec's weighted ops with a source graph's by structure.

The spec's weighted nodes are visited in topological order. A node pairs with the unpaired source node of the
same signature (kind, weight shapes, groups, stride, dilation, bias) whose input expression equals the image of
its own (its parents replaced by their partners). Look-alike branches are told apart by what they feed
(:func:`~netc.weights.keras_graph.fingerprints`), then by a map file; what remains ambiguous is an error that
asks for a map entry. The first difference between the two graphs stops the pairing with an error at the spec
line, naming the source layer and its type.
"""
from __future__ import annotations

from netc.diagnostics import Diagnostic, NetcError
from netc.weights.bind import block_of
from netc.weights.keras_graph import Dag, Expr, WNode, describe_sig, difference, fingerprints, leaves, substitute


MAX_DEPTH = 64   # how far downstream look-alike candidates are compared


def _layer(n: WNode) -> str:
    return f"source layer `{n.name}` ({n.type})"


def _pair_by_structure(dag: Dag, src: Dag, pins: dict[str, str]):
    if dag.n_inputs != src.n_inputs:
        raise NetcError(f"the spec has {dag.n_inputs} input(s), the source model {src.n_inputs}",
                        _first_span(dag))
    for i, (a, b) in enumerate(zip(dag.input_channels, src.input_channels)):
        if a is not None and b is not None and a != b:
            raise NetcError(f"input {i} has {a} channels in the spec, {b} in the source model", _first_span(dag))
    by_expr: dict[Expr, list[WNode]] = {}
    for s in src.nodes:
        by_expr.setdefault(s.expr, []).append(s)
    fps: dict[int, tuple[list[str], list[str]]] = {}

    def fingerprint(depth: int) -> tuple[list[str], list[str]]:
        if depth not in fps:
            fps[depth] = (fingerprints(dag, depth), fingerprints(src, depth))
        return fps[depth]

    def tie_break(n: WNode, fits: list[WNode]) -> list[WNode]:
        """Keep the candidates whose downstream looks like ``n``'s, looking further until one is left."""
        for depth in range(1, MAX_DEPTH + 1):
            fp_ir, fp_src = fingerprint(depth)
            same = [s for s in fits if fp_src[s.key] == fp_ir[n.key]]
            if len(same) <= 1:
                return same or fits
            fits = same
        return fits
    partner: dict[int, WNode] = {}
    taken: set[int] = set()
    by_name = {s.name: s for s in src.nodes}
    warnings: list[Diagnostic] = []

    def image(leaf: Expr) -> Expr:
        return ("w", partner[leaf[1]].key) if leaf[0] == "w" else leaf

    for n in dag.nodes:
        want = substitute(n.expr, image)
        here = [s for s in by_expr.get(want, []) if s.key not in taken]
        fits = [s for s in here if s.sig == n.sig]
        if n.name in pins:
            pinned = by_name[pins[n.name]]
            if pinned not in fits:
                raise NetcError(f"map entry `{n.name}: {pinned.name}` does not fit: " + (
                    f"{_layer(pinned)} is {describe_sig(pinned.sig)}, the spec's op {describe_sig(n.sig)}"
                    if pinned.sig != n.sig else f"{_layer(pinned)} is fed by {_render(pinned.expr, src)}, "
                                                 f"the spec's op by {_render(want, src)}"), n.node.origin.span)
            fits = [pinned]
        if len(fits) > 1:
            fits = tie_break(n, fits)
        if len(fits) > 1:
            names = ", ".join(f"`{s.name}`" for s in fits)
            raise NetcError(f"{block_of(n.node)}: its op `{n.name}` ({describe_sig(n.sig)}) fits "
                            f"{len(fits)} source layers equally: {names}", n.node.origin.span,
                            notes=[f"pin one in a map file (`--map FILE`), e.g. `{n.name}: {fits[0].name}`"])
        if not fits:
            raise _difference(n, want, here, src, partner, taken)
        s = fits[0]
        partner[n.key] = s
        taken.add(s.key)
        warnings += _soft(n, s)
    _check_rest(dag, src, partner, taken)
    return [(n, partner[n.key]) for n in dag.nodes], warnings


def _soft(n: WNode, s: WNode) -> list[Diagnostic]:
    out = []
    for key, a in n.soft.items():
        b = s.soft.get(key)
        if b is not None and a != b and not (isinstance(a, float) and abs(a - b) <= 1e-6 * max(abs(a), 1e-12)):
            out.append(Diagnostic(f"{block_of(n.node)}: {key} {a} in the spec, {b} in {_layer(s)}: the weights "
                                  f"pair, but the outputs will differ", n.node.origin.span, severity="warning"))
    return out


def _render(expr: Expr, src: Dag) -> str:
    """An expression in words, with source layer names."""
    if expr is None:
        return "constants only"
    if expr[0] == "in":
        return f"input {expr[1]}"
    if expr[0] == "w":
        s = src.nodes[expr[1]]
        return f"`{s.name}` ({s.type})"
    op = {"+": "add", "*": "multiply", "cat": "concat"}.get(expr[0], expr[0].removeprefix("op:"))
    return f"{op}(" + ", ".join(_render(c, src) for c in expr[1]) + ")"


def _difference(n: WNode, want: Expr, here: list[WNode], src: Dag, partner: dict[int, WNode],
                taken: set[int]) -> NetcError:
    """The located error for a spec op no source layer fits."""
    span = n.node.origin.span
    where = block_of(n.node)
    mine = describe_sig(n.sig)
    if here:
        s = min(here, key=lambda s: (s.kind != n.kind, sum(a != b for a, b in zip(s.sig, n.sig)), s.key))
        if s.kind != n.kind:
            return NetcError(
                f"{where}: the spec has {mine} (`{n.name}`) where the source has {_layer(s)}, "
                f"{describe_sig(s.sig)}", span,
                notes=[f"both are fed by {_render(want, src)}; a layer is missing on one side"])
        return NetcError(f"{where}: {difference(n.sig, s.sig)}: the spec has {mine} (`{n.name}`), "
                         f"{_layer(s)} has {describe_sig(s.sig)}", span,
                         notes=[f"both are fed by {_render(want, src)}"])
    mine_leaves = set(leaves(want))
    best, overlap = None, 0
    for s in src.nodes:
        if s.key in taken:
            continue
        k = len(mine_leaves & set(leaves(s.expr)))
        if k > overlap:
            best, overlap = s, k
    if best is not None:
        extra = [e for e in leaves(best.expr) if e not in mine_leaves]
        lacking = [e for e in mine_leaves if e not in set(leaves(best.expr))]
        if extra:
            what = ", ".join(_render(e, src) for e in extra)
            return NetcError(f"{where}: the source joins an extra branch here: {_layer(best)} ({describe_sig(best.sig)}) "
                             f"is fed by {_render(best.expr, src)}, the spec's `{n.name}` by {_render(want, src)}",
                             span, notes=[f"the spec has no counterpart of {what}"])
        if lacking:
            what = ", ".join(_render(e, src) for e in lacking)
            return NetcError(f"{where}: the spec joins a branch the source does not: `{n.name}` ({mine}) is fed by "
                             f"{_render(want, src)}, {_layer(best)} by {_render(best.expr, src)}", span,
                             notes=[f"the source does not use {what} there"])
        return NetcError(f"{where}: the inputs are combined differently: the spec's `{n.name}` is fed by "
                         f"{_render(want, src)}, {_layer(best)} by {_render(best.expr, src)}", span)
    return NetcError(f"{where}: the source has nothing here: no layer is fed by {_render(want, src)}, the spec "
                     f"has {mine} (`{n.name}`)", span,
                     notes=["a layer the source model does not have, or the source ends earlier"])


def _check_rest(dag: Dag, src: Dag, partner: dict[int, WNode], taken: set[int]) -> None:
    """Every source layer used; the outputs computed alike."""
    back = {s.key: n for n, s in ((dag.nodes[k], s) for k, s in partner.items())}
    for s in src.nodes:
        if s.key in taken:
            continue
        anchor = next((back[e[1]] for e in reversed(leaves(s.expr)) if e[0] == "w" and e[1] in back), None)
        span = anchor.node.origin.span if anchor else _first_span(dag)
        where = f"after {block_of(anchor.node)}" if anchor else "in the spec"
        raise NetcError(f"{_layer(s)} ({describe_sig(s.sig)}, fed by {_render(s.expr, src)}) has no counterpart "
                        f"{where}: an extra layer or branch in the source", span)
    if len(dag.outputs) != len(src.outputs):
        raise NetcError(f"the spec has {len(dag.outputs)} output(s), the source model {len(src.outputs)}",
                        _first_span(dag))

    def image(leaf: Expr) -> Expr:
        return ("w", partner[leaf[1]].key) if leaf[0] == "w" else leaf

    if src.unordered_outputs:   # a signature's outputs are a dict: each spec output finds its own
        free = list(range(len(src.outputs)))
        order = []
        for e in dag.outputs:
            got = substitute(e, image)
            j = next((j for j in free if src.outputs[j] == got), free[0])
            free.remove(j)
            order.append(j)
        src.outputs = [src.outputs[j] for j in order]
        src.output_names = [src.output_names[j] for j in order]
        src.unordered_outputs = False
    for i, (e, f) in enumerate(zip(dag.outputs, src.outputs)):
        got = substitute(e, image)
        if got != f:
            last = next((dag.nodes[x[1]] for x in reversed(leaves(e)) if x[0] == "w"), None)
            raise NetcError(f"output {i} (`{dag.output_names[i]}`) is computed from {_render(got, src)} in the spec, "
                            f"from {_render(f, src)} in the source model",
                            last.node.origin.span if last else _first_span(dag))


def _first_span(dag: Dag):
    return dag.nodes[0].node.origin.span if dag.nodes else None
