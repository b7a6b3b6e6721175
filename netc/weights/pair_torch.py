"""Pair the spec's weighted ops with a PyTorch checkpoint's modules, by the modules' order and shapes.

A state_dict carries no graph, and torch.fx would need the model's Python class, which a checkpoint does not
hold (netc never imports or runs code a checkpoint names), so there is nothing to trace. What a state_dict does
carry is sound evidence of order: its keys are the modules' *registration* order (each module's parameters
and buffers, then its children, depth first), and the names form the module tree (``layer1.0.conv2``). netc
pairs the spec's weighted ops, in the spec's order, with the checkpoint's modules:

- in a ``.pth`` / ``.pt`` the order is the file's; netc checks it is a registration order (every module's
  entries together, every subtree together, a Sequential's children ``0, 1, 2...`` in order; a reordered or
  spliced file is refused) and pairs op *i* with module *i*, each pair's converted shapes equal;
- a ``.safetensors`` keeps no order (sorted by name), so only the tree is known: a Sequential's numbered
  children keep their order, named siblings (``conv1``, ``bn1``, ``downsample``) may come in any. netc counts the
  orders of the tree that fit the spec's shapes (dynamic programming): exactly one, and it is the pairing;
  several, and the look-alikes are refused with the candidates listed, to pin with ``--map`` (or give the .pth).

The first op that does not fit is reported at its spec line with the module the checkpoint has there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netc.diagnostics import Diagnostic, NetcError
from netc.ir.graph import Prim
from netc.semantic.analyze import CheckedModel
from netc.weights.bind import block_of
from netc.weights.keras_graph import Dag, WNode, describe_sig, fmt_shape, ir_dag
from netc.weights.kinds import KINDS, kind_of_node
from netc.weights.source import KerasSource
from netc.weights.torch_reader import TorchCheckpoint, read_torch

IGNORED = {name for k in KINDS.values() for name in k.torch_ignored}
MAX_UNORDERED = 14      # named siblings whose order a subset DP searches


@dataclass(eq=False)
class Leaf:
    """One weighted module: its path, arrays (by parameter name), class (guessed from them) and rank."""

    path: str
    params: dict[str, np.ndarray]
    index: int
    size: int = 1

    @property
    def cls(self) -> str:
        p = self.params
        if "running_mean" in p:
            return "BatchNorm2d"
        w = p.get("weight")
        if w is not None and w.ndim in (2, 4):
            return "Linear" if w.ndim == 2 else "Conv2d"
        if w is not None and w.ndim == 1:
            return "LayerNorm" if "bias" in p else "PReLU"
        return "module"

    def shapes(self) -> str:
        return ", ".join(f"{k} {fmt_shape(v.shape)}" for k, v in self.params.items())


@dataclass(eq=False)
class Tree:
    """A module with weighted descendants: its items (its own leaf first, then its children)."""

    path: str
    items: list = field(default_factory=list)      # Leaf | Tree
    keys: list = field(default_factory=list)       # each item's name below this module ("" for its own leaf)
    ordered: bool = True
    size: int = 0


def _natural(path: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split(".")]


def _leaves(ckpt: TorchCheckpoint) -> list[Leaf]:
    """The checkpoint's weighted modules, in the file's order (by name for a .safetensors)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    last = None
    for key, arr in ckpt.tensors.items():
        mod, _, name = key.rpartition(".")
        if name in IGNORED and arr.size <= 1:
            continue
        if mod in groups and mod != last and ckpt.ordered:
            raise NetcError(f"`{ckpt.path}` does not list its modules in registration order: the entries of "
                            f"`{mod or '(root)'}` are split by `{last}`; netc pairs a state_dict by its order, so it "
                            f"cannot use a reordered one: save `model.state_dict()` as it is")
        groups.setdefault(mod, {})[name] = np.asarray(arr)
        last = mod
    paths = list(groups) if ckpt.ordered else sorted(groups, key=_natural)
    return [Leaf(p, groups[p], i) for i, p in enumerate(paths)]


def _tree(leaves: list[Leaf], ckpt: TorchCheckpoint) -> Tree:
    """The module tree; in an ordered file, every subtree contiguous and numbered children in order."""
    root = Tree("")
    for leaf in leaves:
        node, parts = root, leaf.path.split(".") if leaf.path else []
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth + 1])
            if part in node.keys:
                i = node.keys.index(part)
                if ckpt.ordered and i != len(node.keys) - 1:
                    raise NetcError(f"`{ckpt.path}` does not list its modules in registration order: `{here}` "
                                    f"continues after `{node.path + '.' if node.path else ''}{node.keys[-1]}` began; "
                                    f"netc pairs a state_dict by its order, so it cannot use a reordered one")
                node = node.items[i]
                continue
            numbers = [int(k) for k in node.keys if k.isdigit()]
            if ckpt.ordered and part.isdigit() and numbers and int(part) < max(numbers):
                raise NetcError(f"`{ckpt.path}` does not list its modules in registration order: `{here}` comes "
                                f"after `{node.path}.{max(numbers)}` (a Sequential's children are registered 0, 1, "
                                f"2...); netc pairs a state_dict by its order, so it cannot use a reordered one")
            child = Tree(here)
            node.items.append(child)
            node.keys.append(part)
            node = child
        node.items.insert(0, leaf)
        node.keys.insert(0, "")
    _settle(root, ckpt.ordered)
    return root


def _settle(t: Tree, ordered: bool) -> None:
    """Sizes; which nodes' children have a known order; a lone leaf's tree collapsed to the leaf."""
    for i, item in enumerate(t.items):
        if isinstance(item, Tree):
            _settle(item, ordered)
            if len(item.items) == 1:
                t.items[i] = item.items[0]
    t.size = sum(item.size for item in t.items)
    named = [k for k in t.keys if k and not k.isdigit()]
    t.ordered = ordered or not named or len(t.items) == 1
    if not t.ordered and len(t.items) > MAX_UNORDERED:
        raise NetcError(f"module `{t.path or '(root)'}` has {len(t.items)} named children: too many to try their "
                        f"orders (a .safetensors keeps none); give the .pth state_dict instead")


class _Ambiguous(Exception):
    def __init__(self, pos: int, candidates: list):
        self.pos, self.candidates = pos, candidates


class _Pairer:
    """Counts (0, 1, or 2 for "several") the orders of the tree that fit the spec's ops, and finds the one."""

    def __init__(self, spec: list[WNode], pins: dict[str, str]):
        self.spec, self.pins = spec, pins
        self.pinned_leaf = {v: k for k, v in pins.items()}
        self._fit: dict = {}
        self._ways: dict = {}
        self._comp: dict = {}

    def fit(self, p: int, leaf: Leaf) -> dict[str, np.ndarray] | None:
        """The leaf's arrays in the IR layout of spec op ``p``, or None when they are not that op's."""
        key = (p, leaf.index)
        if key not in self._fit:
            self._fit[key] = self._convert(self.spec[p], leaf)
        return self._fit[key]

    def _convert(self, wn: WNode, leaf: Leaf) -> dict[str, np.ndarray] | None:
        pin = self.pins.get(wn.name)
        if (pin is not None and pin != leaf.path) or self.pinned_leaf.get(leaf.path, wn.name) != wn.name:
            return None
        node = wn.node
        kind = kind_of_node(node)
        if kind is None or kind.from_torch is None:
            return None
        out = {}
        for name, arr in leaf.params.items():
            role = kind.torch_roles.get(name)
            if role is None or role not in node.weights:
                return None
            got = kind.from_torch(role, arr, tuple(node.weights[role].shape))
            if got is None:
                return None
            out[role] = got
        for role, w in node.weights.items():
            if role not in out:
                if role not in kind.identity:
                    return None
                out[role] = np.full(w.shape, kind.identity[role], np.float32)
        return out

    def ways(self, item, p: int) -> int:
        if p + item.size > len(self.spec):
            return 0
        if isinstance(item, Leaf):
            return 1 if self.fit(p, item) is not None else 0
        key = (id(item), p)
        if key not in self._ways:
            if item.ordered:
                total, q = 1, p
                for c in item.items:
                    total = min(2, total * self.ways(c, q))
                    q += c.size
                    if not total:
                        break
                self._ways[key] = total
            else:
                self._ways[key] = self.comp(item, p, 0)
        return self._ways[key]

    def _free(self, t: Tree, mask: int) -> list[int]:
        """Children still to place; numbered ones only in their order."""
        out, seen_number = [], False
        for i, k in enumerate(t.keys):
            if mask >> i & 1:
                continue
            if k.isdigit():
                if seen_number:
                    continue
                seen_number = True
            if k == "" or not any(t.keys[j] == "" and not mask >> j & 1 for j in range(len(t.keys))):
                out.append(i)
        return out

    def _offset(self, t: Tree, p: int, mask: int) -> int:
        return p + sum(t.items[i].size for i in range(len(t.items)) if mask >> i & 1)

    def comp(self, t: Tree, p: int, mask: int) -> int:
        """How many ways the children not in ``mask`` fit the spec's ops after those in it (capped at 2)."""
        full = (1 << len(t.items)) - 1
        if mask == full:
            return 1
        key = (id(t), p, mask)
        if key not in self._comp:
            q, total = self._offset(t, p, mask), 0
            for i in self._free(t, mask):
                w = self.ways(t.items[i], q)
                if w:
                    total = min(2, total + w * self.comp(t, p, mask | 1 << i))
                if total >= 2:
                    break
            self._comp[key] = total
        return self._comp[key]

    def walk(self, item, p: int, out: dict[int, Leaf]) -> None:
        """The fitting order (exactly one: ``ways`` was 1), or :class:`_Ambiguous` at the first choice."""
        if isinstance(item, Leaf):
            out[p] = item
            return
        if item.ordered:
            q = p
            for c in item.items:
                self.walk(c, q, out)
                q += c.size
            return
        mask, full = 0, (1 << len(item.items)) - 1
        while mask != full:
            q = self._offset(item, p, mask)
            cands = [i for i in self._free(item, mask)
                     if self.ways(item.items[i], q) and self.comp(item, p, mask | 1 << i)]
            if len(cands) > 1:
                raise _Ambiguous(q, [item.items[i] for i in cands])
            self.walk(item.items[cands[0]], q, out)
            mask |= 1 << cands[0]


def _first_leaf(item) -> Leaf:
    while isinstance(item, Tree):
        item = item.items[0]
    return item


def _mismatch(spec: list[WNode], leaves: list[Leaf], pairer: _Pairer, ckpt: TorchCheckpoint) -> NetcError:
    """The first op, in the spec's order, whose module (in the file's order, or by name) does not fit."""
    where = "" if ckpt.ordered else " (a .safetensors keeps no module order: compared in the names' order)"
    for i, (wn, leaf) in enumerate(zip(spec, leaves)):
        if pairer.fit(i, leaf) is None:
            pin = " (pinned by the map)" if wn.name in pairer.pins or leaf.path in pairer.pinned_leaf else ""
            notes = [f"the module before it, `{leaves[i - 1].path}`, paired with `{spec[i - 1].name}`"] if i else []
            return NetcError(f"{block_of(wn.node)}: the spec has {describe_sig(wn.sig)} (`{wn.name}`) where "
                             f"{ckpt.kind} `{ckpt.path}` has {leaf.cls} `{leaf.path}` ({leaf.shapes()}) as weighted "
                             f"module {i + 1}{where}{pin}", wn.node.origin.span, notes=notes)
    if len(spec) > len(leaves):
        wn = spec[len(leaves)]
        return NetcError(f"{block_of(wn.node)}: the spec's op `{wn.name}` ({describe_sig(wn.sig)}) has no "
                         f"module in {ckpt.kind} `{ckpt.path}`: its {len(leaves)} weighted modules end before it "
                         f"(the spec has {len(spec)})", wn.node.origin.span)
    if len(leaves) > len(spec):
        leaf = leaves[len(spec)]
        return NetcError(f"{leaf.cls} `{leaf.path}` ({leaf.shapes()}) and {len(leaves) - len(spec) - 1} more "
                         f"module(s) of {ckpt.kind} `{ckpt.path}` are not used by the spec ({len(spec)} weighted "
                         f"ops)", spec[0].node.origin.span if spec else None)
    wn = spec[0]
    return NetcError(f"the modules of {ckpt.kind} `{ckpt.path}` fit the spec's ops one by one, but in no order its "
                     f"module tree allows" + (" with the map's pins" if pairer.pins else ""), wn.node.origin.span)


def _ambiguous(err: _Ambiguous, spec: list[WNode], ckpt: TorchCheckpoint) -> NetcError:
    wn = spec[err.pos]
    names = [_first_leaf(c).path for c in err.candidates]
    return NetcError(
        f"{block_of(wn.node)}: the spec's op `{wn.name}` ({describe_sig(wn.sig)}) fits {len(names)} modules of "
        f"{ckpt.kind} `{ckpt.path}` alike: " + ", ".join(f"`{n}`" for n in names) + "; a .safetensors keeps no "
        f"module order and their names do not say which is which", wn.node.origin.span,
        notes=[f"pin it in a map file (`--map`): `{wn.name}: MODULE`, MODULE one of those; or give the .pth state_dict "
               f"(`netc weights match SPEC --from model.pth --write-map map.yaml` writes a map this file can use)"])


def match_torch(checked: CheckedModel, path: str, pins: dict[str, str] | None = None):
    """Pair ``checked``'s weighted ops with the modules of the PyTorch checkpoint at ``path`` (a Pairing)."""
    from netc.weights.keras_match import Pairing
    from netc.weights.map_file import _check_pins
    ckpt = read_torch(path)
    pins = pins if pins is not None else {}
    dag = ir_dag(checked.graph)
    for wn in dag.nodes:
        if wn.node.prim is Prim.SEPCONV:
            raise NetcError(f"{block_of(wn.node)}: a separable conv is one op in netc and two modules in PyTorch; "
                            f"netc does not pair it with a PyTorch checkpoint", wn.node.origin.span)
    leaves = _leaves(ckpt)
    src = Dag(nodes=[WNode(key=lf.index, kind="torch", sig=("weights", lf.cls, [v.shape for v in lf.params.values()]),
                           expr=None, name=lf.path, type=lf.cls) for lf in leaves], source_kind=ckpt.kind)
    _check_pins(dag, src, pins)
    tree = _tree(leaves, ckpt)
    pairer = _Pairer(dag.nodes, pins)
    found: dict[int, Leaf] = {}
    if pairer.ways(tree, 0) == 0 or tree.size != len(dag.nodes):
        raise _mismatch(dag.nodes, leaves, pairer, ckpt)
    try:
        pairer.walk(tree, 0, found)
    except _Ambiguous as err:
        raise _ambiguous(err, dag.nodes, ckpt) from None
    pairs, evidence = [], []
    by = "registration order" if ckpt.ordered else "module tree"
    for i, wn in enumerate(dag.nodes):
        leaf = found[i]
        arrays = pairer.fit(i, leaf)
        s = src.nodes[leaf.index]
        s.variables = {role: f"{leaf.path}.{name}" for name, role in
                       ((n, kind_of_node(wn.node).torch_roles[n]) for n in leaf.params)}
        s.read = arrays.__getitem__
        pairs.append((wn, s))
        evidence.append("map" if wn.name in pins else by)
    source = KerasSource(path=ckpt.path, kind=ckpt.kind, dag=src, topology=False, notes=list(ckpt.notes))
    warnings = [Diagnostic(n, None, severity="note") for n in ckpt.notes]
    return Pairing(source, pairs, warnings, evidence)


def load_torch_weights(checked: CheckedModel, path: str, weights_map: str | None = None):
    """Values for every weight of ``checked`` from a PyTorch checkpoint; the pairing's summary joins
    ``checked.warnings`` as a note."""
    from netc.weights.keras_match import pairing_summary, read_map
    pairing = match_torch(checked, path, read_map(weights_map) if weights_map else None)
    values = pairing.values()
    checked.warnings.extend(pairing.warnings)
    checked.warnings.append(Diagnostic(pairing_summary(pairing), None, severity="note"))
    return values

