"""Pair a weights-only source's layers (no graph) with the spec's ops, where that is sound.

Each layer of a class whose shapes no other layer of the class shares pairs by its shapes; look-alikes (same
class, same shapes) pair by their names where the names say which is which, or by a map entry. Anything else
is refused with the groups listed: the order a file lists its layers in is no evidence of which spec op each
one is.
"""
from __future__ import annotations

from netc.diagnostics import NetcError
from netc.weights.bind import block_of
from netc.weights.keras_graph import ROLES, Dag, WNode, describe_sig, fmt_shape
from netc.weights.kinds import KINDS
from netc.weights.pair_structure import _first_span, _layer


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
