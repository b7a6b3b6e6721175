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

import re
from collections import Counter

from netc.weights.keras_graph import Dag, WNode
from netc.weights.kinds import KINDS

EVIDENCE = "layer order"


class NoOrder(Exception):
    """The file's positions cannot pair the spec's ops; the message says why (shown in the refusal)."""


class Undecided(NoOrder):
    """The file's positions pair all but a few look-alikes, which they leave open: ``choices`` lists, per
    undecided spec op (its node), the file layers it may be."""

    def __init__(self, message: str, choices: list[tuple[WNode, list[WNode]]]):
        super().__init__(message)
        self.choices = choices


def _content(nodes: list) -> Counter:
    return Counter((n.kind, tuple(map(tuple, _shapes(n)))) for n in nodes)


def _shapes(n: WNode) -> tuple:
    if n.node is None:
        return tuple(tuple(s) for s in n.sig[2])
    return tuple(tuple(n.node.weights[r].ext_shape) for r in KINDS[n.kind].roles if r in n.node.weights)


def pair_by_layer_order(graph, dag: Dag, src: Dag, pins: dict[int, WNode] | None = None
                        ) -> dict[int, tuple[WNode, str]]:
    """spec node key -> (file node, evidence) for every spec node, or NoOrder with the reason; ``pins`` (spec
    node key -> file node, from a map file) choose among the orders the file leaves possible."""
    pins = pins or {}
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

    look = [(unit_stem[u], frozenset(_content(unit_nodes[u]).items())) for u in range(len(unit_nodes))]
    unit_of = {n.key: u for u, ns in enumerate(unit_nodes) if len(ns) == 1 for n in ns}
    want = {stem: [frozenset(_content(entries[(stem, i)]).items()) for i in idx] for stem, idx in stems.items()}
    g = _UnitGraph(graph, units, len(unit_nodes), {u: f"block {unit_stem[u]}" for u in range(len(unit_nodes))
                                                   if len(unit_nodes[u]) > 1 or unit_nodes[u][0].key in block_prefix})
    order = g.order({})
    found = _numbering(order, unit_stem)
    why = _fragile(order, look, g, unit_nodes)
    if why or any(look[u][1] != want[unit_stem[u]][i] for u, i in found.items()):
        # the source's weightless layers (how many a ReLU, an add, an upsampling, a block's exit take) set the
        # depths: every count of layers per kind of op (0-2; a resize 0-4; a block 1-3) whose order gives each
        # file layer its own shapes is a possible source, and all of them must give one pairing
        options = []
        for costs in g.cost_choices():
            if costs is None:
                raise NoOrder((why or "the spec's order gives file layers other shapes") + "; the spec has too "
                              "many kinds of weightless ops to try every count of their layers")
            f = _numbering(g.order(costs), unit_stem)
            if all(look[u][1] == want[unit_stem[u]][i] for u, i in f.items()) and f not in options:
                options.append(f)
        if not options:
            raise NoOrder((why or "the spec's order of its layers gives file layers other shapes")
                          + "; no count of the source's weightless layers per kind of op reproduces the file's order")
        pinned = {unit_of[k]: s for k, s in pins.items() if k in unit_of}
        options = [f for f in options if all(s.position[:2] == (unit_stem[u], f[u]) for u, s in pinned.items())]
        if not options:
            raise NoOrder("the map's pins fit no order that reproduces the file's")
        open_ = [u for u in options[0] if len({f[u] for f in options}) > 1]
        choices = [(unit_nodes[u][0], [entries[(unit_stem[u], i)][0] for i in sorted({f[u] for f in options})])
                   for u in open_ if len(unit_nodes[u]) == 1]
        if len(choices) != len(open_):
            raise NoOrder("several counts of the source's weightless layers per kind of op reproduce the file's "
                          "order and pair its block layers differently")
        found = options[0]
    else:
        choices = []
    out: dict[int, tuple[WNode, str]] = {}
    count = Counter((unit_stem[u], frozenset(_content(unit_nodes[u]).items())) for u in found)
    for u, index in found.items():
        stem = unit_stem[u]
        mine = entries[(stem, index)]
        if _content(mine) != _content(unit_nodes[u]):
            raise NoOrder(f"`{unit_nodes[u][0].name}` is the spec's {stem} layer {index}, but `{stem}_{index}` "
                          f"holds other shapes")
        if len(unit_nodes[u]) == 1 and unit_nodes[u][0].key not in block_prefix:
            n = unit_nodes[u][0]
            alone = count[(stem, frozenset(_content([n]).items()))] == 1
            out[n.key] = (mine[0], "shapes" if alone else EVIDENCE)
    inner = _pair_attributes(found, entries, unit_nodes, unit_stem, block_prefix, out, pins)
    if choices or inner:
        what = []
        if choices:
            what.append(f"{len(choices)} look-alikes that several counts of the source's weightless layers per kind "
                        f"of op (a ReLU, an add, an upsampling, a block's exit) place differently in its order")
        if inner:
            what.append(f"{len(inner)} sublayers of block layers whose shapes are alike in every block of the class")
        raise Undecided("; ".join(what), choices + inner)
    return out


def _pair_attributes(found, entries, unit_nodes, unit_stem, block_prefix, out, pins) -> list:
    """Inside block layers: each attribute stands for the spec op of the same local name (its name below its
    block) in every block of its class; the shapes across all blocks of the class decide which, then for
    look-alikes a number both names carry (`_norm1`, `1_bn`: evidence ``names``), and pins.
    Returns the sublayers left open (spec op of the first such block, its candidates), none paired then."""
    cands: dict[tuple[str, str], set[str]] = {}
    paired = [(u, i) for u, i in found.items() if len(unit_nodes[u]) > 1 or unit_nodes[u][0].key in block_prefix]
    local_of = {n.key: n.name[len(block_prefix[n.key]):] for u, _ in paired for n in unit_nodes[u]}
    for u, index in paired:
        stem = unit_stem[u]
        for a in entries[(stem, index)]:
            fit = {local_of[n.key] for n in unit_nodes[u] if n.kind == a.kind and _shapes(n) == _shapes(a)}
            key = (stem, a.position[2])
            cands[key] = cands[key] & fit if key in cands else fit
    by_names = set()
    for (stem, attr), c in cands.items():   # look-alikes: the one whose local name has the attribute's number
        num = re.findall(r"\d+", attr)
        hits = {loc for loc in c if re.findall(r"\d+", loc) == num} if len(c) > 1 and len(num) == 1 else set()
        if len(hits) == 1:
            cands[(stem, attr)] = hits
            by_names.add((stem, attr))
    for k, a in pins.items():   # a pin names one block's sublayer: its attribute is that op in every block
        if k in local_of and a.position[2] and (a.position[0], a.position[2]) in cands:
            cands[(a.position[0], a.position[2])] &= {local_of[k]}
            by_names.discard((a.position[0], a.position[2]))
    left, pairs = [], {}
    for u, index in paired:
        stem = unit_stem[u]
        mine = {a.position[2]: a for a in entries[(stem, index)]}
        local = {local_of[n.key]: n for n in unit_nodes[u]}
        options = {attr: set(cands[(stem, attr)] & set(local)) for attr in mine}
        changed = True
        while changed:
            changed = False
            for attr, opts in options.items():
                if len(opts) == 1:
                    for other, o in options.items():
                        if other != attr and opts < o:
                            o -= opts
                            changed = True
        if any(len(o) != 1 for o in options.values()) or len({next(iter(o)) for o in options.values()}) != len(local):
            if not any(s == stem for s, _ in left):
                for attr, o in sorted(options.items()):
                    if len(o) > 1:
                        left.append((stem, (local[min(o)], sorted((a for a in mine.values()
                                                                   if a.position[2] != attr and
                                                                   options[a.position[2]] == o),
                                                                  key=lambda a: a.name) + [mine[attr]])))
            continue
        for attr, opts in options.items():
            pairs[local[next(iter(opts))].key] = (mine[attr], "names" if (stem, attr) in by_names else EVIDENCE)
    if left:
        seen, out_left = set(), []
        for _, (n, cs) in left:
            if n.key not in seen:
                seen.add(n.key)
                out_left.append((n, sorted(cs, key=lambda a: a.name)))
        return out_left
    out.update(pairs)
    return []


def _numbering(order: list[int], unit_stem: list[str]) -> dict[int, int]:
    """unit -> its number among the file's layers of its class, for layers in ``order``."""
    found, seen = {}, {}
    for u in order:
        found[u] = seen.get(unit_stem[u], 0)
        seen[unit_stem[u]] = found[u] + 1
    return found


def _fragile(order: list[int], look: list, g: "_UnitGraph", unit_nodes) -> str | None:
    """Why the order of two look-alikes next to each other in ``order`` may not be the source's whatever its
    weightless layers are (neither feeds the other, and they feed different ops), or None."""
    last: dict = {}
    for u in order:
        a = last.get(look[u])
        if a is not None and not (g.below[a] >> u) & 1 and g.feeds[a] != g.feeds[u]:
            return (f"`{unit_nodes[a][0].name}` and `{unit_nodes[u][0].name}` are look-alikes, neither feeds the "
                    f"other, and they feed different ops: which stands first in `model.layers` depends on the "
                    f"source's weightless layers after them (their depth)")
        last[look[u]] = u
    return None


class _UnitGraph:
    """The spec's graph with each unit (a weighted op, or a block taken as one layer) one node: its inputs,
    direct consumers, descendants (bit sets) and first visit of `map_graph`'s depth-first walk from the outputs."""

    def __init__(self, graph, units: dict[int, int], n_units: int, blocks: dict[int, str]):
        unit = {id(node): units.get(id(node), ("op", id(node))) for node in graph.nodes}
        self.kind: dict = {}
        inputs: dict = {}
        topo: list = []
        for node in graph.nodes:
            u = unit[id(node)]
            if u not in inputs:
                topo.append(u)
                self.kind[u] = blocks.get(u, "weighted") if isinstance(u, int) else getattr(node.prim, "value",
                                                                                           str(node.prim))
            lst = inputs.setdefault(u, [])
            for v in node.inputs:
                p = unit[id(v.producer)] if v.producer is not None else None
                if p is not None and p != u and p not in lst:
                    lst.append(p)
        pos = {u: i for i, u in enumerate(topo)}
        self.feeds: dict = {u: set() for u in topo}
        for u, ps in inputs.items():
            for p in ps:
                if pos[p] > pos[u]:
                    raise NoOrder("a spec block taken as one layer is fed by its own outputs")
                self.feeds[p].add(u)
        self.index: dict = {}
        stack = [unit[id(v.producer)] for _, v in reversed(graph.outputs) if v.producer is not None]
        while stack:
            u = stack.pop()
            if u in self.index:
                continue
            self.index[u] = len(self.index)
            stack.extend(reversed(inputs.get(u, [])))
        self.below: dict = {}
        for u in reversed(topo):
            bits = 0
            for c in self.feeds[u]:
                bits |= self.below[c] | (1 << c if isinstance(c, int) else 0)
            self.below[u] = bits
        self.topo = [u for u in reversed(topo)]   # consumers first
        self.weighted = [u for u in range(n_units) if u in self.index]
        if len(self.weighted) != n_units:
            raise NoOrder("some weighted ops reach no output")

    def order(self, costs: dict[str, int]) -> list[int]:
        """The units by decreasing depth (a unit of kind k standing for ``costs.get(k, 1)`` layers), ties by
        first visit: the order `map_graph` gives `model.layers`."""
        depth: dict = {}
        for u in self.topo:
            step = costs.get(self.kind[u], 1)
            depth[u] = max((depth[c] for c in self.feeds[u]), default=-1) + step
        return sorted(self.weighted, key=lambda u: (-depth[u], self.index[u]))

    def cost_choices(self):
        """Every count of layers per kind of weightless op (0-2; a resize 0-4; an input 0) and per block class
        (1-3); None after 3000 of them (too many kinds to try)."""
        import itertools
        kinds = sorted({k for k in self.kind.values() if k not in ("weighted", "input")})
        ranges = [range(1, 4) if k.startswith("block ") else range(0, 5) if k == "resize" else range(0, 3)
                  for k in kinds]
        for i, combo in enumerate(itertools.product(*ranges)):
            if i == 3000:
                yield None
                return
            yield dict(zip(kinds, combo))
