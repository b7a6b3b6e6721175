"""Pair a `.weights.h5` file's layers by the place Keras itself gives them: their position in `model.layers`.

tf_keras and Keras 3 save each layer of `model.layers` as `layers/<class>_<i>` (``i`` counts that class's
layers in `model.layers`), a block layer's sublayers below it by attribute (`bottleneck_block_3/_conv1`), and
`load_weights` reads them back by that position. A functional model's `model.layers` is a function of its
graph (`map_graph`): layers by decreasing depth (the longest path to an output, in layers), ties by first visit
of a depth-first walk from the outputs, each layer's inputs in order. netc computes that order on the spec's
graph, a spec block being one layer where the file has a block layer holding exactly its weighted ops, and
pairs the k-th spec layer of each class with the file's `<class>_k`; inside a block layer, each attribute
(`_conv3`) stands for the same op of every block of its class, which its shapes across all of them decide.

What the spec cannot know is how the source implements its weightless ops (an upsampling may be one layer or
four, a `tf.identity` may follow a block), and they change depths. So two look-alikes (same class, same
shapes) are paired by their order only where it holds whatever those ops are: one feeds the other, or both
feed the same ops directly (equal depths; the walk meets them in the order of those ops' inputs, the spec's,
as written from the source's code). Otherwise nothing is paired this way, and the refusal says why.
"""
from __future__ import annotations

from collections import Counter

from netc.weights.keras_graph import Dag, WNode
from netc.weights.kinds import KINDS

EVIDENCE = "layer order"


class NoOrder(Exception):
    """The file's positions cannot pair the spec's ops; the message says why (shown in the refusal)."""


def _content(nodes: list) -> Counter:
    return Counter((n.kind, tuple(map(tuple, _shapes(n)))) for n in nodes)


def _shapes(n: WNode) -> tuple:
    if n.node is None:
        return tuple(tuple(s) for s in n.sig[2])
    return tuple(tuple(n.node.weights[r].ext_shape) for r in KINDS[n.kind].roles if r in n.node.weights)


def pair_by_layer_order(graph, dag: Dag, src: Dag) -> dict[int, tuple[WNode, str]]:
    """spec node key -> (file node, evidence) for every spec node, or NoOrder with the reason."""
    entries: dict[tuple[str, int], list[WNode]] = {}
    for s in src.nodes:
        stem, index, attr = s.position
        if attr.startswith("/"):
            raise NoOrder(f"`{s.name}` is a part of a layer netc splits in two")
        entries.setdefault((stem, index), []).append(s)
    stems: dict[str, list[int]] = {}
    for stem, index in sorted(entries):
        stems.setdefault(stem, []).append(index)
    blocks = {k for k, ns in entries.items() if any(n.position[2] for n in ns)}
    for k in blocks:
        if any(not n.position[2] for n in entries[k]):
            raise NoOrder(f"layer `{k[0]}_{k[1]}` holds weights of its own beside its sublayers")
    leaf_stem: dict[str, str] = {}   # Keras class -> file class name
    for k in entries:
        if k not in blocks:
            leaf_stem.setdefault(entries[k][0].type, k[0])
    block_contents: dict[str, set] = {}
    for k in blocks:
        block_contents.setdefault(k[0], set()).add(frozenset(_content(entries[k]).items()))

    # the spec's layers: its blocks whose weighted ops are exactly a file block's, and each other weighted op
    units: dict[int, int] = {}          # id(IR node) -> unit
    unit_nodes: list[list[WNode]] = []
    unit_stem: list[str] = []
    by_block: dict[tuple[str, str], list[WNode]] = {}
    for n in dag.nodes:
        by_block.setdefault((n.node.origin.stack, n.node.origin.block), []).append(n)
    block_prefix: dict[int, str] = {}
    block_unit: dict[tuple[str, str], int] = {}
    for (stack, block), ns in by_block.items():
        c = frozenset(_content(ns).items())
        fits = [stem for stem, cs in block_contents.items() if c in cs]
        if len(fits) > 1:
            raise NoOrder(f"spec block `{stack}/{block}` holds what layers of classes {fits} hold")
        if fits:
            u = len(unit_nodes)
            unit_nodes.append(ns)
            unit_stem.append(fits[0])
            block_unit[(stack, block)] = u
            for n in ns:
                block_prefix[n.key] = f"{stack}/{block}/"
    for node in graph.nodes:   # every op of such a block, weighted or not, is part of its layer
        origin = getattr(node, "origin", None)
        if origin is not None and (origin.stack, origin.block) in block_unit:
            units[id(node)] = block_unit[(origin.stack, origin.block)]
    for n in dag.nodes:
        if id(n.node) in units:
            continue
        cls = KINDS[n.kind].queue(n.sig) if KINDS[n.kind].queue else n.type
        if cls not in leaf_stem:
            raise NoOrder(f"the file has no top-level {cls} layer for `{n.name}`")
        units[id(n.node)] = len(unit_nodes)
        unit_nodes.append([n])
        unit_stem.append(leaf_stem[cls])
    for stem, idx in stems.items():
        if idx != list(range(len(idx))):
            raise NoOrder(f"the file's `{stem}` layers are not numbered 0..{len(idx) - 1}")
        have = sum(1 for s in unit_stem if s == stem)
        if have != len(idx):
            raise NoOrder(f"the file has {len(idx)} `{stem}` layers, the spec {have}")

    order, feeds, below = _layer_order(graph, units, len(unit_nodes))
    found: dict[int, int] = {}   # unit -> its number among the file's layers of its class
    seen: dict[str, int] = {}
    last: dict[tuple, int] = {}
    for u in order:
        stem = unit_stem[u]
        found[u] = seen.get(stem, 0)
        seen[stem] = found[u] + 1
        look = (stem, frozenset(_content(unit_nodes[u]).items()))
        if look in last:   # a look-alike follows another: is that order the source's whatever its weightless ops?
            a = last[look]
            if not (below[a] >> u) & 1 and feeds[a] != feeds[u]:
                raise NoOrder(f"`{unit_nodes[a][0].name}` and `{unit_nodes[u][0].name}` are look-alikes, neither "
                              f"feeds the other, and they feed different ops: which stands first in "
                              f"`model.layers` depends on the source's weightless layers after them (their depth)")
        last[look] = u
    out: dict[int, tuple[WNode, str]] = {}
    count = Counter((unit_stem[u], frozenset(_content(unit_nodes[u]).items())) for u in found)
    for u, index in found.items():
        stem = unit_stem[u]
        mine = entries[(stem, index)]
        if _content(mine) != _content(unit_nodes[u]):
            raise NoOrder(f"`{unit_nodes[u][0].name}` is the spec's {stem} layer {index}, but `{stem}_{index}` "
                          f"holds other shapes")
        if len(unit_nodes[u]) == 1:
            n = unit_nodes[u][0]
            alone = count[(stem, frozenset(_content([n]).items()))] == 1
            out[n.key] = (mine[0], "shapes" if alone else EVIDENCE)
    _pair_attributes(found, entries, unit_nodes, unit_stem, block_prefix, out)
    return out


def _pair_attributes(found, entries, unit_nodes, unit_stem, block_prefix, out) -> None:
    """Inside block layers: each attribute stands for the spec op of the same name in every block of its class
    (local names: the op's name below its block); the shapes across all blocks of the class decide which."""
    cands: dict[tuple[str, str], set[str]] = {}
    paired = [(u, i) for u, i in found.items() if len(unit_nodes[u]) > 1 or unit_nodes[u][0].key in block_prefix]
    for u, index in paired:
        stem = unit_stem[u]
        for a in entries[(stem, index)]:
            fit = {n.name[len(block_prefix[n.key]):] for n in unit_nodes[u]
                   if n.kind == a.kind and _shapes(n) == _shapes(a)}
            key = (stem, a.position[2])
            cands[key] = cands[key] & fit if key in cands else fit
    for u, index in paired:
        stem = unit_stem[u]
        mine = {a.position[2]: a for a in entries[(stem, index)]}
        local = {n.name[len(block_prefix[n.key]):]: n for n in unit_nodes[u]}
        options = {attr: cands[(stem, attr)] & set(local) for attr in mine}
        changed = True
        while changed:
            changed = False
            for attr, opts in options.items():
                if len(opts) == 1:
                    for other, o in options.items():
                        if other != attr and opts <= o:
                            o -= opts
                            changed = True
        if any(len(o) != 1 for o in options.values()) or len({next(iter(o)) for o in options.values()}) != len(local):
            open_ = sorted(a for a, o in options.items() if len(o) != 1)
            raise NoOrder(f"the sublayers {', '.join(f'`{a}`' for a in open_)} of the `{stem}` layers cannot be told "
                          f"apart by their shapes in any of them")
        for attr, opts in options.items():
            out[local[next(iter(opts))].key] = (mine[attr], EVIDENCE)


def _layer_order(graph, units: dict[int, int], n_units: int) -> tuple[list[int], dict, dict]:
    """The weighted units in the order `map_graph` lists layers (by decreasing depth, ties by first visit of a
    depth-first walk from the outputs), each unit's set of direct consumers, and its descendants (a bit set)."""
    unit = {}
    for node in graph.nodes:
        unit[id(node)] = units.get(id(node), ("op", id(node)))
    inputs: dict = {}
    topo: list = []
    for node in graph.nodes:
        u = unit[id(node)]
        if u not in inputs:
            topo.append(u)
        lst = inputs.setdefault(u, [])
        for v in node.inputs:
            p = unit[id(v.producer)] if v.producer is not None else None
            if p is not None and p != u and p not in lst:
                lst.append(p)
    pos = {u: i for i, u in enumerate(topo)}
    feeds: dict = {u: set() for u in topo}
    for u, ps in inputs.items():
        for p in ps:
            if pos[p] > pos[u]:
                raise NoOrder("a spec block taken as one layer is fed by its own outputs")
            feeds[p].add(u)
    index: dict = {}
    stack = [unit[id(v.producer)] for _, v in reversed(graph.outputs) if v.producer is not None]
    while stack:
        u = stack.pop()
        if u in index:
            continue
        index[u] = len(index)
        stack.extend(reversed(inputs.get(u, [])))
    depth: dict = {}
    below: dict = {}
    for u in reversed(topo):   # consumers first
        depth[u] = max((depth[c] + 1 for c in feeds[u]), default=0)
        bits = 0
        for c in feeds[u]:
            bits |= below[c] | (1 << c if isinstance(c, int) else 0)
        below[u] = bits
    weighted = [u for u in range(n_units) if u in index]
    if len(weighted) != n_units:
        raise NoOrder("some weighted ops reach no output")
    return sorted(weighted, key=lambda u: (-depth[u], index[u])), feeds, below
