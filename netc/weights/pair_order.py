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


def _pair_by_order(dag: Dag, src: Dag, pins: dict[str, str], keras_nodes: list[WNode] | None = None, graph=None):
    """Pair a weights-only source's layers with the spec's ops where that is sound: each layer of a class
    whose shapes no other layer of the class shares pairs by its shapes; look-alikes (same class, same
    shapes) pair by their names where the names say which is which, or by a map entry. Anything else is
    refused: the order a file lists its layers in is not evidence of which spec op each one is (a planted
    swap of two look-alikes would go unnoticed), so netc names the ambiguous pairs and asks for pins."""
    for s in src.nodes:
        if s.kind == "other":
            raise NetcError(f"{_layer(s)} in the {src.source_kind or 'weights file'} holds weights netc cannot "
                            f"classify: {_shapes(s.sig[2])}")
    return _assign(keras_nodes or dag.nodes, dag, src, pins, graph), []


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


def _assign(order: list[WNode], dag: Dag, src: Dag, pins: dict[str, str],
            graph=None) -> list[tuple[WNode, WNode, str]]:
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
    positioned, why_not = _by_position(graph, dag, src, partner, pinned)
    partner.update(positioned)
    pinned |= {s.key for s, _ in positioned.values()}
    aligned = _align_by_creation(dag, src, partner, pinned)
    partner.update(aligned)
    pinned |= {s.key for s, _ in aligned.values()}
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
    ambiguous, by_creation = [], []
    for (cls, shapes), (ns, ss) in groups.items():
        if len(ns) == 1:
            partner[ns[0].key] = (ss[0], "shapes")
        elif ns:
            named = _by_names(ns, ss)
            if named is not None:
                for n, s in named:
                    partner[n.key] = (s, "names")
            elif all(s.created for s in ss) and len({s.created[0] for s in ss}) == 1:
                for n, s in zip(sorted(ns, key=lambda n: n.key), sorted(ss, key=lambda s: s.created[1])):
                    partner[n.key] = (s, "creation order")
                by_creation.append((ns, ss))
            else:
                ambiguous.append((ns, ss))
    disagree = _creation_disagrees(dag, partner)
    for ns, ss in by_creation:
        if ss[0].created[0] in disagree:
            ambiguous.append((ns, ss))
    if ambiguous:
        raise _ambiguous(ambiguous, src, disagree, why_not)
    return [(n, *partner[n.key]) for n in dag.nodes]


def _by_position(graph, dag: Dag, src: Dag, partner: dict, pinned: set) -> tuple[dict, str | None]:
    """Pairs from the file's positions in `model.layers` (layer_order.py), where it numbers its layers so;
    pins keep their pairs. Returns the pairs and, where the positions are no evidence, why not."""
    if graph is None or not src.nodes or any(s.position is None for s in src.nodes) \
            or all(n.key in partner for n in dag.nodes):
        return {}, None
    from netc.weights.layer_order import NoOrder, Undecided, pair_by_layer_order
    try:
        found = pair_by_layer_order(graph, dag, src, {k: s for k, (s, _) in partner.items()})
    except Undecided as err:
        n = err.choices[0][0]
        notes = [f"`{op.name}` ({describe_sig(op.sig)}) is one of " + ", ".join(f"`{c.name}`" for c in cs)
                 for op, cs in err.choices[:6]]
        notes.append("every other layer pairs by its position in `model.layers`; pin the ones above in a map file "
                     f"(`--map FILE`, YAML `spec op: source layer`; one pin may settle several), e.g. "
                     f"`{n.name}: {err.choices[0][1][0].name}`, or give the model itself (a SavedModel, `.keras`)")
        raise NetcError(f"{block_of(n.node)}: the {src.source_kind or 'weights file'}'s order leaves "
                        f"{len(err.choices)} look-alikes open: {err}", n.node.origin.span, notes=notes) from None
    except NoOrder as err:
        return {}, str(err)
    return {k: v for k, v in found.items() if k not in partner and v[0].key not in pinned}, None


def _align_by_creation(dag: Dag, src: Dag, partner: dict, pinned: set) -> dict[int, tuple[WNode, str]]:
    """Pairs from the creation order the source's names record (tf_keras: ``conv2d_5``, a block's
    ``bottleneck_block_1/conv2d_2``). Per kind, the source's layers fall in sequences whose names have the
    same stems (top-level convs, the convs of every bottleneck block, ...), each in creation order. If the
    source was created in the spec's order, the spec's ops of that kind (in its order) are an interleaving of
    those sequences with equal shapes at every step: where exactly one interleaving fits, it is the pairing
    (evidence ``shapes`` for a layer no other of its kind and shapes shares, ``creation order`` otherwise).
    A kind with no fitting interleaving, or several, is left to the other rules (and so refused)."""
    out: dict[int, tuple[WNode, str]] = {}
    kinds = {}
    for s in src.nodes:
        if s.key not in pinned:
            kinds.setdefault(_queue(s, src.order_by), []).append(s)
    rank = {k: i for i, k in enumerate(KINDS)}
    for cls, ss in sorted(kinds.items(), key=lambda kv: rank.get(kv[1][0].kind, len(rank))):
        if not all(s.created for s in ss):
            continue
        ns = [n for n in dag.nodes if n.key not in partner and _queue(n, src.order_by) == cls]
        if len(ns) != len(ss):
            continue
        seqs: dict[tuple, list[WNode]] = {}
        for s in sorted(ss, key=lambda s: s.created[1]):
            seqs.setdefault(s.created[0], []).append(s)
        found = _unique_interleaving(ns, list(seqs.values()), _same_scope(dag, {**partner, **out}))
        if found is None:
            continue
        count: dict[tuple, int] = {}
        for n in ns:
            count[_shapes_of(n)] = count.get(_shapes_of(n), 0) + 1
        for n, s in zip(ns, found):
            out[n.key] = (s, "shapes" if count[_shapes_of(n)] == 1 else "creation order")
    return out


def _same_scope(dag: Dag, partner: dict[int, tuple[WNode, str]]):
    """A spec op fed directly by an op already paired (a BN after its conv) pairs only with a layer of the same
    scope as that partner (the same block layer, ``bottleneck_block_1/...``, or both top-level)."""
    def allowed(n: WNode, s: WNode) -> bool:
        if not (isinstance(n.expr, tuple) and n.expr[0] == "w" and n.expr[1] in partner):
            return True
        p = partner[n.expr[1]][0]
        if not p.created:
            return True
        return s.created[0][:-1] == p.created[0][:-1] and s.created[1][:-1] == p.created[1][:-1]
    return allowed


def _unique_interleaving(ns: list[WNode], seqs: list[list[WNode]], allowed=lambda n, s: True) -> list[WNode] | None:
    """The one merge of ``seqs`` (each kept in order) whose shapes equal ``ns``'s step by step (and each pair
    ``allowed``), or None when there is none or more than one (dynamic programming over the positions)."""
    import sys
    want = [_shapes_of(n) for n in ns]
    have = [[tuple(s.sig[2]) for s in q] for q in seqs]
    ends = tuple(len(q) for q in seqs)
    memo: dict[tuple, int] = {}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(ns) + 100))

    def ways(pos: tuple) -> int:   # interleavings of the rest, capped at 2
        if pos == ends:
            return 1
        if pos in memo:
            return memo[pos]
        step = sum(pos)
        total = 0
        for i, q in enumerate(have):
            if pos[i] < ends[i] and q[pos[i]] == want[step] and allowed(ns[step], seqs[i][pos[i]]):
                total += ways(pos[:i] + (pos[i] + 1,) + pos[i + 1:])
                if total >= 2:
                    break
        memo[pos] = min(total, 2)
        return memo[pos]

    start = tuple(0 for _ in seqs)
    if len(memo) > 2_000_000 or ways(start) != 1:
        return None
    out, pos = [], start
    while pos != ends:
        step = sum(pos)
        for i, q in enumerate(have):
            nxt = pos[:i] + (pos[i] + 1,) + pos[i + 1:]
            if pos[i] < ends[i] and q[pos[i]] == want[step] and allowed(ns[step], seqs[i][pos[i]]) \
                    and ways(nxt) == 1:
                out.append(seqs[i][pos[i]])
                pos = nxt
                break
    return out


def _creation_disagrees(dag: Dag, partner: dict[int, tuple[WNode, str]]) -> dict[tuple, str]:
    """Creation order is evidence only where the source was created in the spec's order: along the spec, the
    creation numbers of every paired layer whose name has the same stems (``bottleneck_block_*/conv2d_*``)
    must increase. Returns the stems where they do not, each with the first disagreement in words."""
    runs: dict[tuple, list[tuple[WNode, WNode]]] = {}
    for n in dag.nodes:
        s = partner.get(n.key, (None, ""))[0]
        if s is not None and s.created:
            runs.setdefault(s.created[0], []).append((n, s))
    out = {}
    for stems, pairs in runs.items():
        for (a, sa), (b, sb) in zip(pairs, pairs[1:]):
            if sb.created[1] <= sa.created[1]:
                out[stems] = (f"the source created `{sb.name}` before `{sa.name}`, but the spec has "
                              f"`{b.name}` after `{a.name}`")
                break
    return out


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


def _ambiguous(groups: list[tuple[list[WNode], list[WNode]]], src: Dag, disagree: dict | None = None,
               why_not: str | None = None) -> NetcError:
    """The refusal: look-alike layers that nothing but the file's order tells apart."""
    n_ops = sum(len(ns) for ns, _ in groups)
    ns, ss = groups[0]
    lines = []
    def names(xs: list[WNode]) -> str:
        shown = ", ".join(f"`{x.name}`" for x in xs[:4])
        return shown + (f" and {len(xs) - 4} more" if len(xs) > 4 else "")
    for a, b in groups[:5]:
        lines.append(f"{names(a)} <-> {names(b)} ({describe_sig(a[0].sig)})")
    if len(groups) > 5:
        lines.append(f"... and {len(groups) - 5} more groups")
    pins = "; ".join(f"`{n.name}: {s.name}`" for n, s in zip(ns, ss))
    notes = [f"look-alikes: {line}" for line in lines]
    notes += [f"creation order is no evidence here: {why}" for why in list((disagree or {}).values())[:2]]
    if why_not:
        notes.append(f"the file's positions in `model.layers` are no evidence here: {why_not}")
    notes += [
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
