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
from dataclasses import dataclass

import numpy as np

from netc.diagnostics import Diagnostic, NetcError, Span
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.keras_graph import (ROLES, Dag, Expr, WNode, describe_sig, difference, fingerprints, fmt_shape,
                                      ir_dag, leaves, substitute)
from netc.weights.keras_source import KerasSource
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
                if not np.issubdtype(arr.dtype, np.floating):
                    raise NetcError(f"source variable `{src.variables.get(role, role)}` holds {arr.dtype} values",
                                    node.origin.span)
                out[w.name] = np.ascontiguousarray(arr, dtype=np.float32).reshape(w.shape)
        return out

    def rows(self) -> list[dict]:
        """One row per spec weight: block, line, netc name, source layer and variable, shape."""
        rows = []
        for ir, src in self.pairs:
            node = ir.node
            span = node.origin.span
            for role, w in node.weights.items():
                rows.append({"block": node.origin.text, "stack": node.origin.stack, "line": span.line if span else None,
                             "weight": w.name, "layer": src.name, "type": src.type,
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
    if source.topology:
        pairs, warnings = _pair_by_structure(dag, source.dag, pins)
    else:
        pairs, warnings = _pair_by_order(dag, source.dag, pins, keras_order(checked.graph, dag))
    warnings = [Diagnostic(n, None, severity="warning") for n in source.notes] + warnings
    return Pairing(source, pairs, warnings)


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
        if b is not None and a != b and not (isinstance(a, float) and abs(a - b) <= 1e-9 * max(abs(a), 1e-12)):
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
    """Pair each class's layers in file order with the spec's nodes taken in ``keras_nodes``' order: the
    order Keras lists the layers of a model with the spec's graph, which is the order a weights-only file
    numbers them in (SpineNet's blocks are not saved in the order the spec lists them). When that order
    does not fit, the spec's own order is tried. A pairing the two orders disagree on is a warning: a
    source with other unweighted ops on parallel branches may number its look-alike layers otherwise."""
    for s in src.nodes:
        if s.kind == "other":
            raise NetcError(f"{_layer(s)} in the weights file holds weights netc cannot classify: "
                            + ", ".join(fmt_shape(x) for x in s.sig[2]))
    if keras_nodes is None:
        return _assign(dag.nodes, dag, src, pins), []
    try:
        pairs = _assign(keras_nodes, dag, src, pins)
    except NetcError as first:
        try:
            return _assign(dag.nodes, dag, src, pins), []
        except NetcError:
            raise first from None
    try:
        in_spec_order = dict(_assign(dag.nodes, dag, src, pins))
    except NetcError:
        in_spec_order = {}
    differ = [(n, s) for n, s in pairs if in_spec_order.get(n) is not s]
    warnings = []
    if differ:
        n, s = differ[0]
        warnings.append(Diagnostic(
            f"{len(differ)} look-alike layers of the weights-only file were paired by the order Keras lists "
            f"this graph's layers, not by the spec's order (first: `{n.name}` with {_layer(s)}); a source model "
            f"with other unweighted layers on its parallel branches may number them otherwise: check the "
            f"outputs, or give the `.keras` model", n.node.origin.span, severity="warning"))
    return pairs, warnings


def _assign(order: list[WNode], dag: Dag, src: Dag, pins: dict[str, str]) -> list[tuple[WNode, WNode]]:
    """The spec's nodes taken in ``order``: each pairs with the next source layer of its class (file order)
    whose shapes fit; returned in the spec's order."""
    by_name = {s.name: s for s in src.nodes}
    pinned = {by_name[v].key for v in pins.values()}
    queues: dict[str, list[WNode]] = {}
    for s in src.nodes:
        if s.key not in pinned:
            queues.setdefault(_queue(s, src.order_by), []).append(s)
    partner: dict[int, WNode] = {}
    for n in order:
        shapes = tuple(tuple(n.node.weights[r].ext_shape) for r in _roles_of(n) if r in n.node.weights)
        if n.name in pins:
            s = by_name[pins[n.name]]
        else:
            q = queues.get(_queue(n, src.order_by), [])
            if not q:
                raise NetcError(f"{block_of(n.node)}: the weights file has no more {_queue(n, src.order_by)} "
                                f"layers for `{n.name}` ({describe_sig(n.sig)})", n.node.origin.span,
                                notes=["a layer the source model does not have"])
            # the first layer of its class, in file order, whose shapes fit: branches may be saved in
            # another order than the spec lists them
            s = next((x for x in q if tuple(x.sig[2]) == shapes), q[0])
            q.remove(s)
        if shapes != tuple(s.sig[2]):
            raise NetcError(f"{block_of(n.node)}: `{n.name}` ({describe_sig(n.sig)}) pairs by order with "
                            f"{_layer(s)}, whose weights are " + ", ".join(fmt_shape(x) for x in s.sig[2])
                            + " (the spec's: " + ", ".join(fmt_shape(x) for x in shapes) + ")",
                            n.node.origin.span, notes=["a weights-only file is paired by layer order and shapes; "
                                                       "give the `.keras` model to pair by structure, or pin "
                                                       "pairs with `--map`"])
        partner[n.key] = s
    rest = [s for q in queues.values() for s in q]
    if rest:
        s = rest[0]
        raise NetcError(f"{_layer(s)} (" + ", ".join(fmt_shape(x) for x in s.sig[2]) + f") and {len(rest) - 1} "
                        f"more layer(s) of the weights file are not used by the spec", _first_span(dag))
    return [(n, partner[n.key]) for n in dag.nodes]


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
    """The layer class (``order_by == "class"``) or kind whose file order pairs with the spec's order."""
    if order_by != "class":
        return n.kind
    if n.node is None:
        return n.type
    if n.kind == "conv":
        cin_g, cout, groups = n.sig[3:6]
        return "DepthwiseConv2D" if groups > 1 and cin_g == 1 and cout % groups == 0 else "Conv2D"
    return {"bn": "BatchNormalization", "prelu": "PReLU", "dense": "Dense"}[n.kind]


def _roles_of(n: WNode) -> tuple[str, ...]:
    return ROLES[n.kind]


# ------------------------------------------------------------------ loading
def load_keras_weights(checked: CheckedModel, path: str, weights_map: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` from a Keras model, ``.weights.h5`` or SavedModel; the
    pairing's warnings (an epsilon or padding that differs, a pairing by order) join ``checked.warnings``."""
    pairing = pair_source(checked, path, weights_map)
    values = pairing.values()
    checked.warnings.extend(pairing.warnings)
    return values


def pair_source(checked: CheckedModel, path: str, weights_map: str | None = None) -> Pairing:
    from netc.weights.keras_source import open_source
    pins = read_map(weights_map) if weights_map else None
    return match(checked, open_source(path), pins)




def format_pairing(pairing: Pairing) -> str:
    """The `netc weights match` table: spec line and block, netc weight, source layer and variable, shape."""
    head = ["line", "block", "netc weight", "source layer (type)", "variable", "shape"]
    rows = [head]
    for r in pairing.rows():
        rows.append([str(r["line"] or "-"), f"{r['stack']}# {r['block']}" if r["stack"] else r["block"], r["weight"], f"{r['layer']} ({r['type']})",
                     r["variable"], fmt_shape(r["shape"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    by = "structure" if pairing.source.topology else "layer order and shapes"
    lines = [f"{pairing.source.kind} `{pairing.source.path}`: {len(pairing.pairs)} layers paired by {by}", ""]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
