"""Pair the spec's weighted ops with a Keras model's layers, by structure (or by order for weights-only files).

Structure: the spec's weighted nodes are visited in topological order. A node pairs with the unpaired
source node of the same signature (kind, weight shapes, groups, stride, dilation, bias) whose input
expression equals the image of its own (its parents replaced by their partners). Look-alike branches
are told apart by what they feed (:func:`~netc.weights.keras_graph.fingerprints`), then by a map file;
what remains ambiguous is an error that asks for a map entry. The first difference between the two
graphs stops the pairing with an error at the spec line, naming the source layer and its type.

Order (``.weights.h5``, SavedModel): the spec's nodes, taken in the order Keras would list the layers of
a model with the spec's graph (:func:`keras_order`), pair with each class's layers in file order; shapes
must agree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from netc.diagnostics import Diagnostic, NetcError, Span
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.keras_graph import (ROLES, Dag, Expr, WNode, describe_sig, difference, fingerprints, fmt_shape,
                                      ir_dag, leaves, substitute)
from netc.weights.keras_source import KerasSource
from netc.weights.kinds import KINDS
from netc.weights.load import block_of

MAX_DEPTH = 64   # how far downstream look-alike candidates are compared

MAP_HEADER = ("# netc weights map: spec weighted op -> source layer (written by `netc weights match "
              "--write-map`).\n# Keep the entries that pin an ambiguous pair, or all of them.\n")


@dataclass
class Pairing:
    """The spec's weighted nodes paired with the source's, in spec order."""

    source: KerasSource
    pairs: list[tuple[WNode, WNode]]
    warnings: list[Diagnostic]
    evidence: list[str] = field(default_factory=list)   # per pair: structure | shapes | names | map

    def evidence_counts(self) -> dict[str, int]:
        """How many layers each kind of evidence paired, e.g. ``{"structure": 258, "map": 2}``."""
        out: dict[str, int] = {}
        for e in self.evidence:
            out[e] = out.get(e, 0) + 1
        return out

    def values(self) -> WeightValues:
        """Every spec weight's value from its partner (float32, IR layout)."""
        out: WeightValues = {}
        for ir, src in self.pairs:
            node = ir.node
            for role, w in node.weights.items():
                try:
                    arr = np.asarray(src.read(role))
                except NetcError as err:
                    raise NetcError(err.message, node.origin.span, notes=[f"{block_of(node)} needs it"]) from None
                if arr.size != w.size:
                    raise NetcError(f"source variable `{src.variables.get(role, role)}` has shape "
                                    f"{fmt_shape(arr.shape)}, {block_of(node)} needs {fmt_shape(w.ext_shape)}",
                                    node.origin.span)
                if not (np.issubdtype(arr.dtype, np.floating)
                        or (role == "count" and np.issubdtype(arr.dtype, np.integer))):   # Normalization's count
                    raise NetcError(f"source variable `{src.variables.get(role, role)}` holds {arr.dtype} values",
                                    node.origin.span)
                out[w.name] = np.ascontiguousarray(arr, dtype=np.float32).reshape(w.shape)
        return out

    def rows(self) -> list[dict]:
        """One row per spec weight: block, line, netc name, source layer and variable, shape."""
        rows = []
        for (ir, src), by in zip(self.pairs, self.evidence or ["structure"] * len(self.pairs)):
            node = ir.node
            span = node.origin.span
            for role, w in node.weights.items():
                rows.append({"block": node.origin.text, "stack": node.origin.stack, "line": span.line if span else None,
                             "weight": w.name, "layer": src.name, "type": src.type, "by": by,
                             "variable": src.variables.get(role, "?"), "shape": list(w.ext_shape)})
        return rows

    def mapping(self) -> dict[str, str]:
        return {ir.name: src.name for ir, src in self.pairs}


# ------------------------------------------------------------------ entry points
def match(checked: CheckedModel, source: KerasSource, pins: dict[str, str] | None = None) -> Pairing:
    """Pair ``checked``'s weighted ops with ``source``'s (a NetcError at the first difference)."""
    dag = ir_dag(checked.graph)
    pins = dict(pins or {})
    _check_pins(dag, source.dag, pins)
    source.dag.source_kind = source.kind
    if source.topology:
        pairs, warnings = _pair_by_structure(dag, source.dag, pins)
        evidence = ["map" if n.name in pins else "structure" for n, _ in pairs]
    else:
        triples, warnings = _pair_by_order(dag, source.dag, pins, keras_order(checked.graph, dag))
        pairs, evidence = [(n, s) for n, s, _ in triples], [e for _, _, e in triples]
    warnings = [Diagnostic(n, None, severity="warning") for n in source.notes] + warnings
    return Pairing(source, pairs, warnings, evidence)


def read_map(path: str) -> dict[str, str]:
    """A map file: YAML ``spec op name: source layer name``, read like specs are (UTF-8 checked, PyYAML's safe
    loader with bounded nesting)."""
    import yaml

    from netc.frontends.load import decode
    from netc.frontends.yaml_form import _BoundedLoader, _DepthError
    try:
        with open(path, "rb") as fh:
            text = decode(fh.read(), path, "yaml")
    except OSError as err:
        raise NetcError(f"cannot read map file `{path}`: {err.strerror or err}") from None
    try:
        data = yaml.load(text, Loader=_BoundedLoader)   # noqa: S506 - a SafeLoader subclass
    except _DepthError as err:
        raise NetcError(f"map file `{path}` nests too deeply (a map is one level of `op: layer` pairs)",
                        Span(path, err.mark.line + 1, err.mark.column + 1)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        span = Span(path, mark.line + 1, mark.column + 1) if mark else None
        raise NetcError(f"map file `{path}` is not valid YAML: {getattr(err, 'problem', err)}", span) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise NetcError(f"map file `{path}` must be a YAML mapping of `spec op: source layer` strings")
    return data


def write_map(pairing: Pairing, path: str) -> None:
    """Write the pairing as a map file (netc/atomic.py: checked first, written atomically, mode 0644)."""
    import yaml

    from netc.atomic import atomic_file, check_target
    check_target(path)
    text = MAP_HEADER + yaml.safe_dump(pairing.mapping(), sort_keys=False, default_flow_style=False)
    with atomic_file(path, suffix=".yaml.tmp") as (_, fh):
        fh.write(text.encode("utf-8"))


def _check_pins(dag: Dag, src: Dag, pins: dict[str, str]) -> None:
    import difflib
    ir_names = {n.name for n in dag.nodes}
    src_names = {n.name for n in src.nodes}
    for k, v in pins.items():
        if k not in ir_names:
            close = difflib.get_close_matches(k, sorted(ir_names), n=1)
            raise NetcError(f"map entry `{k}`: the spec has no weighted op of that name"
                            + (f"; did you mean `{close[0]}`?" if close else ""))
        if v not in src_names:
            close = difflib.get_close_matches(v, sorted(src_names), n=1)
            raise NetcError(f"map entry `{k}: {v}`: the source has no weighted layer `{v}`"
                            + (f"; did you mean `{close[0]}`?" if close else ""))


# ------------------------------------------------------------------ by structure
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


# ------------------------------------------------------------------ by order
def _pair_by_order(dag: Dag, src: Dag, pins: dict[str, str], keras_nodes: list[WNode] | None = None):
    """Pair a weights-only source's layers with the spec's ops where that is sound: each layer of a class
    whose shapes no other layer of the class shares pairs by its shapes; look-alikes (same class, same
    shapes) pair by their names where the names say which is which, or by a map entry. Anything else is
    refused: the order a file lists its layers in is not evidence of which spec op each one is (a planted
    swap of two look-alikes would go unnoticed), so netc names the ambiguous pairs and asks for pins."""
    for s in src.nodes:
        if s.kind == "other":
            raise NetcError(f"{_layer(s)} in the {src.source_kind or 'weights file'} holds weights netc cannot "
                            f"classify: {_shapes(s.sig[2])}")
    return _assign(keras_nodes or dag.nodes, dag, src, pins), []


def _shapes(shapes) -> str:
    """A shape list, cut after the first few."""
    shapes = list(shapes)
    text = ", ".join(fmt_shape(x) for x in shapes[:6])
    return text + (f", ... ({len(shapes)} arrays)" if len(shapes) > 6 else "")


def _norm(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def _by_names(ns: list[WNode], ss: list[WNode]) -> list[tuple[WNode, WNode]] | None:
    """Pairs of look-alikes whose names say which is which: each spec op's name (or its path below the
    stack) ends exactly one candidate's normalised name, and no two ops pick the same one."""
    out, used = [], set()
    for n in ns:
        parts = n.name.split("/")
        tails = {_norm("/".join(parts[i:])) for i in range(len(parts) - 1)}
        hits = [s for s in ss if any(_norm(s.name) == t or _norm(s.name).endswith("_" + t) for t in tails)]
        if len(hits) != 1 or hits[0].key in used:
            return None
        used.add(hits[0].key)
        out.append((n, hits[0]))
    return out


def _assign(order: list[WNode], dag: Dag, src: Dag, pins: dict[str, str]) -> list[tuple[WNode, WNode, str]]:
    """The spec's nodes (taken in ``order``, for messages) paired with the source's layers of their class
    and shapes; returns (spec node, source node, evidence) in the spec's order."""
    by_name = {s.name: s for s in src.nodes}
    partner: dict[int, tuple[WNode, str]] = {}
    for n in dag.nodes:
        if n.name in pins:
            s = by_name[pins[n.name]]
            if _shapes_of(n) != tuple(s.sig[2]):
                raise NetcError(f"map entry `{n.name}: {s.name}` does not fit: {_layer(s)} holds "
                                f"{_shapes(s.sig[2])}, the spec's op ({describe_sig(n.sig)}) needs "
                                f"{_shapes(_shapes_of(n))}", n.node.origin.span)
            partner[n.key] = (s, "map")
    pinned = {s.key for s, _ in partner.values()}
    groups: dict[tuple, tuple[list[WNode], list[WNode]]] = {}
    for n in order:
        if n.key not in partner:
            groups.setdefault((_queue(n, src.order_by), _shapes_of(n)), ([], []))[0].append(n)
    for s in src.nodes:
        if s.key not in pinned:
            groups.setdefault((_queue(s, src.order_by), tuple(s.sig[2])), ([], []))[1].append(s)
    for (cls, shapes), (ns, ss) in groups.items():
        if len(ns) > len(ss):
            raise _no_layer(ns[len(ss)], cls, shapes, src, groups)
        if len(ss) > len(ns):
            s = ss[len(ns)]
            rest = sum(max(0, len(b) - len(a)) for a, b in groups.values()) - 1
            raise NetcError(f"{_layer(s)} ({_shapes(s.sig[2])})" + (f" and {rest} more layer(s)" if rest else "")
                            + " of the weights file are not used by the spec", _first_span(dag))
    ambiguous = []
    for (cls, shapes), (ns, ss) in groups.items():
        if len(ns) == 1:
            partner[ns[0].key] = (ss[0], "shapes")
        elif ns:
            named = _by_names(ns, ss)
            if named is None:
                ambiguous.append((ns, ss))
            else:
                for n, s in named:
                    partner[n.key] = (s, "names")
    if ambiguous:
        raise _ambiguous(ambiguous, src)
    return [(n, *partner[n.key]) for n in dag.nodes]


def _shapes_of(n: WNode) -> tuple:
    return tuple(tuple(n.node.weights[r].ext_shape) for r in _roles_of(n) if r in n.node.weights)


def _no_layer(n: WNode, cls: str, shapes: tuple, src: Dag, groups: dict) -> NetcError:
    """A spec op for which the file has no layer of its class and shapes: name the nearest shapes."""
    others = [s for (c, sh), (a, b) in groups.items() if c == cls and sh != shapes and len(b) > len(a)
              for s in b[len(a):]]
    notes = ["a weights-only file is paired by layer class and shapes; give the model (`.keras`, a SavedModel) "
             "to pair by structure, or pin pairs with `--map`"]
    if others:
        s = others[0]
        first = next((i for i, (a, b) in enumerate(zip(shapes, s.sig[2])) if tuple(a) != tuple(b)), 0)
        got = tuple(s.sig[2])
        diff = (f"array {first}: {fmt_shape(shapes[first])} in the spec, {fmt_shape(got[first])} in the file"
                if first < min(len(shapes), len(got)) else f"{len(shapes)} arrays in the spec, {len(got)} in the file")
        notes.insert(0, f"the nearest unused {cls} layer is {_layer(s)}; first difference at {diff}")
    return NetcError(f"{block_of(n.node)}: the weights file has no {cls} layer holding {_shapes(shapes)} for "
                     f"`{n.name}` ({describe_sig(n.sig)})", n.node.origin.span, notes=notes)


def _ambiguous(groups: list[tuple[list[WNode], list[WNode]]], src: Dag) -> NetcError:
    """The refusal: look-alike layers that nothing but the file's order tells apart."""
    n_ops = sum(len(ns) for ns, _ in groups)
    ns, ss = groups[0]
    lines = []
    for a, b in groups[:5]:
        lines.append(", ".join(f"`{n.name}`" for n in a) + " <-> " + ", ".join(f"`{s.name}`" for s in b)
                     + f" ({describe_sig(a[0].sig)})")
    if len(groups) > 5:
        lines.append(f"... and {len(groups) - 5} more groups")
    pins = "; ".join(f"`{n.name}: {s.name}`" for n, s in zip(ns, ss))
    notes = [f"look-alikes: {line}" for line in lines] + [
        "nothing in the file (names, graph, creation order) says which is which, and its order is no evidence: "
        "give the model itself (`.keras`, a SavedModel with its signature) to pair by structure, or pin each "
        f"look-alike in a map file (`--map FILE`, YAML `spec op: source layer`), e.g. {pins}"]
    return NetcError(f"{block_of(ns[0].node)}: {n_ops} weighted ops in {len(groups)} groups of look-alikes "
                     f"(same layer class and shapes) cannot be paired soundly with the "
                     f"{src.source_kind or 'weights file'}'s layers", ns[0].node.origin.span, notes=notes)


def keras_order(graph, dag: Dag) -> list[WNode]:
    """``dag``'s nodes in the order Keras 3 would list the layers of a functional model with ``graph``'s
    structure (``model.layers``, which numbers a ``.weights.h5`` file's groups): by decreasing depth (the
    longest path to an output), ties by first visit of a depth-first walk from the outputs, each node's
    inputs in order (keras.src.ops.function.map_graph)."""
    depth: dict[int, int] = {}
    consumers = graph.consumers()
    for node in reversed(graph.nodes):
        depth[id(node)] = max((depth[id(c)] + 1 for c in consumers.get(node.out.id, ()) if id(c) in depth),
                              default=0)
    index: dict[int, int] = {}
    stack = [v.producer for _, v in reversed(graph.outputs) if v.producer is not None]
    while stack:
        node = stack.pop()
        if id(node) in index:
            continue
        index[id(node)] = len(index)
        stack.extend(v.producer for v in reversed(node.inputs) if v.producer is not None)
    rank = {id(n.node): (-depth.get(id(n.node), 0), index.get(id(n.node), 1 << 30)) for n in dag.nodes}
    return sorted(dag.nodes, key=lambda n: rank[id(n.node)])


def _queue(n: WNode, order_by: str) -> str:
    """The layer class (``order_by == "class"``) or kind whose layers a weights-only file lists together."""
    if order_by != "class":
        return n.kind
    if n.node is None:
        return n.type
    return KINDS[n.kind].queue(n.sig)


def _roles_of(n: WNode) -> tuple[str, ...]:
    return ROLES[n.kind]


# ------------------------------------------------------------------ loading
def load_keras_weights(checked: CheckedModel, path: str, weights_map: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` from a Keras model, ``.weights.h5`` or SavedModel; the
    pairing's warnings (an epsilon or padding that differs, a pairing by order) join ``checked.warnings``."""
    pairing = pair_source(checked, path, weights_map)
    values = pairing.values()
    checked.warnings.extend(pairing.warnings)
    checked.warnings.append(Diagnostic(pairing_summary(pairing), None, severity="note"))
    return values


def pairing_summary(pairing: Pairing) -> str:
    """``SavedModel `sm`: 10 layers paired by structure``: the format netc recognised and its evidence."""
    return (f"{pairing.source.kind} `{pairing.source.path}`: {len(pairing.pairs)} layers paired by "
            f"{describe_evidence(pairing)}")


def pair_source(checked: CheckedModel, path: str, weights_map: str | None = None) -> Pairing:
    from netc.weights.keras_source import open_source
    pins = read_map(weights_map) if weights_map else None
    return match(checked, open_source(path), pins)




EVIDENCE = {"structure": "structure", "shapes": "shapes (the only layer of its class and shapes)",
            "names": "names", "map": "the map file"}


def describe_evidence(pairing: Pairing) -> str:
    """``structure`` or ``shapes (...) 250, names 8, the map file 2``: what paired the layers."""
    counts = pairing.evidence_counts()
    if len(counts) == 1:
        return EVIDENCE[next(iter(counts))]
    return ", ".join(f"{EVIDENCE[k]} {v}" for k, v in counts.items())


def format_pairing(pairing: Pairing) -> str:
    """The `netc weights match` table: spec line and block, netc weight, source layer and variable, shape."""
    head = ["line", "block", "netc weight", "source layer (type)", "variable", "shape", "by"]
    rows = [head]
    for r in pairing.rows():
        rows.append([str(r["line"] or "-"), f"{r['stack']}# {r['block']}" if r["stack"] else r["block"],
                     r["weight"], f"{r['layer']} ({r['type']})", r["variable"], fmt_shape(r["shape"]), r["by"]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [pairing_summary(pairing), ""]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
