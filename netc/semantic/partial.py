"""Partial analysis for editors: every error a spec has, and the model as far as it goes.

``analyze`` raises at the end of the semantic pass and keeps nothing; an editor wants both the errors and,
for what did not fail, each block's shape, parameters and MACs. This module runs the same analyser on a
spec that may hold stand-ins for lines that did not parse (``recover.FAILED`` blocks) and for template uses
that did not expand: each stand-in is a block whose input is a poisoned value, so its label and its stack
stand for a failure that was reported once, and whatever depends on them is skipped without a new error.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from netc import ast
from netc.blocks import REGISTRY
from netc.diagnostics import Diagnostic, DiagnosticBag, NetcError, Span
from netc.frontends.recover import FAILED
from netc.ir.graph import Value
from netc.registry import Limits, Registry
from netc.semantic import analyze as _analyze
from netc.semantic import templates as _templates

POISON_NAME = "!failed#"    # a name no spec can write; it always stands for a failed value
_LOST_STACK = "!lost#"      # holds the names that lines which did not parse would have defined
_NO_INPUT = "the spec declares no input"
_NO_OUTPUT = "the spec names no output"


@dataclass
class BlockFact:
    """One block as written (a template use stands for its whole expansion) and what the analysis found."""

    block: ast.Block
    stack: str
    shape: tuple | None = None     # None: not lowered (it failed, or something before it did)
    params: int = 0
    macs: int = 0
    copies: int = 1
    expanded: int = 0              # blocks of a template use's expansion (0: no template use)
    inputs: list = field(default_factory=list)   # shapes of its inputs, where known


@dataclass
class PartialModel:
    """What :func:`analyze_partial` found: the analyser's model so far, every diagnostic (errors and
    warnings, in file order), one fact per block as written, and the shape each name holds (None: failed)."""

    checked: _analyze.CheckedModel
    diagnostics: list[Diagnostic]
    facts: list[BlockFact]
    names: dict[str, tuple | None]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class _KeepBag(DiagnosticBag):
    """Collects like the analyser's bag but never raises: the caller takes the items."""

    def raise_if_any(self) -> None:
        return None


def _stand_in(blk: ast.Block, first: bool, op_code: str) -> ast.Block:
    """A block that reads the poisoned name: `select:` at the head of a stack, else a plain op."""
    ref = ast.Ref(POISON_NAME, blk.span)
    if first and blk.label is None:
        return dataclasses.replace(blk, kind="op", code="select", refs=(ref,), args=())
    return dataclasses.replace(blk, kind="op", code=op_code, refs=(ref,), args=())


def _expand(spec: ast.Spec, reg: Registry, limits: Limits, bag: DiagnosticBag,
            parsed: dict | None = None) -> tuple[ast.Spec, dict]:
    """Template expansion going on past errors: a use that fails becomes a FAILED block (with its label).
    Returns the expanded spec and, per expanded block's id, the use it came from."""
    origin: dict[int, ast.Block] = {}
    if not spec.templates:
        return spec, origin
    reserved = set(reg.blocks) | set(reg.ops) | set(reg.modules)
    table: dict[str, ast.Template] = {}
    refused: set[str] = set()
    for t in spec.templates:
        msg = None
        if t.name in table:
            msg = f"template `{t.name}` is defined twice (first at line {table[t.name].span.line})"
        elif t.name in reserved:
            msg = f"template `{t.name}` has the name of a built-in block or op; choose another name"
            refused.add(t.name)
        elif len(set(t.params)) != len(t.params):
            msg = f"template `{t.name}` lists a parameter twice"
            refused.add(t.name)
        if msg is not None:
            bag.add(NetcError(msg, t.span))
            continue
        table[t.name] = t
    budget = _templates._Budget(limits.nodes)
    if parsed is not None:   # filled template lines parsed by an earlier analysis (a pure function of the key)
        if len(parsed) > 20_000:
            parsed.clear()
        budget.parsed = parsed
    stacks = []
    for st in spec.stacks:
        lines = []
        for line in st.lines:
            out: list[ast.Block] = []
            for blk in line:
                if blk.code in refused and blk.kind != FAILED:
                    out.append(dataclasses.replace(blk, kind=FAILED))
                    continue
                try:
                    expanded = _templates._expand_block(blk, table, 0, budget)
                except NetcError as err:
                    bag.add(err)
                    expanded = [dataclasses.replace(blk, kind=FAILED)]
                if blk.code in table:
                    for b in expanded:
                        origin[id(b)] = blk
                out += expanded
            lines.append(out)
        stacks.append(dataclasses.replace(st, lines=lines))
    return dataclasses.replace(spec, stacks=stacks), origin


def _with_stand_ins(spec: ast.Spec, reg: Registry, lost: list[str], origin: dict) -> tuple[ast.Spec, set]:
    """The spec with FAILED blocks replaced by stand-ins, and a hidden stack defining the lost names."""
    op_code = next(c for c, o in reg.ops.items() if c != "select" and not o.params)
    stand_ins: set[int] = set()
    stacks = []
    for st in spec.stacks:
        lines, first = [], True
        for line in st.lines:
            row = []
            for blk in line:
                if blk.kind == FAILED:
                    new = _stand_in(blk, first, op_code)
                    if id(blk) in origin:
                        origin[id(new)] = origin[id(blk)]
                    stand_ins.add(id(new))
                    blk = new
                row.append(blk)
                first = False
            lines.append(row)
        stacks.append(dataclasses.replace(st, lines=lines))
    defined = {d.name for d in spec.inputs} | {st.name for st in spec.stacks} | \
              {b.label for st in spec.stacks for b in st.blocks if b.label}
    names = [n for n in dict.fromkeys(lost) if n not in defined]
    if names:
        at = Span(spec.file, 1, 1)
        hidden = ast.Stack(_LOST_STACK, at, [[ast.Block("", at, "op", "select", at, refs=(ast.Ref(POISON_NAME, at),))]]
                           + [[ast.Block(n, at, "op", op_code, at, n, at, refs=(ast.Ref(POISON_NAME, at),))]
                              for n in names])
        stand_ins.update(id(b) for b in hidden.blocks)
        stacks.insert(0, hidden)
    return dataclasses.replace(spec, stacks=stacks), stand_ins


def analyze_partial(spec: ast.Spec, limits: Limits | None = None, registry: Registry | None = None,
                    lost: dict | None = None, errors: list[NetcError] = (), parsed: dict | None = None) -> PartialModel:
    """Analyse ``spec`` as far as it goes. ``lost`` and ``errors`` come from a recovering parse
    (``recover.parse_text_recovering``): the names and line kinds of lines that did not parse, and their
    errors (reported first). ``parsed``: a dict kept between analyses of one document, where filled-in
    template lines stay parsed. Never raises a NetcError for the spec's mistakes; they are in the result."""
    reg = registry if registry is not None else REGISTRY
    limits = limits or Limits()
    lost = lost or {"names": [], "kinds": []}
    bag = _KeepBag(limit=200)
    for err in errors:
        bag.add(err)
    written = spec
    spec, origin = _expand(spec, reg, limits, bag, parsed)
    spec, stand_ins = _with_stand_ins(spec, reg, lost["names"], origin)
    an = _analyze.Analyzer(spec, limits, reg)
    an.bag = bag
    an.env[POISON_NAME] = _analyze.POISON
    checked = an.run()
    kinds = set(lost["kinds"])
    skip = set()
    if kinds - {"output", "scale"}:
        skip.add(_NO_INPUT)
    if kinds - {"input", "scale"}:
        skip.add(_NO_OUTPUT)
    diags = [d for d in bag.items if not any(d.message.startswith(s) for s in skip)]
    diags += an.warnings
    diags.sort(key=lambda d: (0, 0, 0) if d.span is None else (1, d.span.line, d.span.col))
    checked.stacks = [s for s in checked.stacks if s.name != _LOST_STACK]
    checked.spec = written
    names = {n: (v.shape if isinstance(v, Value) else None) for n, v in an.env.items()
             if n != POISON_NAME and not isinstance(v, list)}
    return PartialModel(checked, diags, _facts(spec, checked, origin, stand_ins, names), names)


def _facts(spec: ast.Spec, checked, origin: dict, stand_ins: set, names: dict) -> list[BlockFact]:
    """One fact per block as written, from the analyser's rows (a row exists for each block it tried)."""
    facts: list[BlockFact] = []
    infos = {s.name: s for s in checked.stacks}
    for st in spec.stacks:
        info = infos.get(st.name)
        if info is None:
            continue
        rows = list(info.blocks)
        blocks = st.blocks
        shape = None
        if blocks and blocks[0].kind == "op" and blocks[0].code == "select":
            sel = [names.get(r.name) for r in blocks[0].refs]
            shape = sel[0] if len(sel) == 1 else None
            blocks = blocks[1:]
        by_use: dict[int, BlockFact] = {}
        for blk in blocks:
            row = None
            if rows and rows[0].text == blk.text and rows[0].span == blk.span:
                row = rows.pop(0)
            if id(blk) in stand_ins and id(blk) not in origin:
                shape = None
                continue
            use = origin.get(id(blk))
            ins = [names.get(r.name) for r in blk.refs] if blk.refs else [shape]
            ok = row is not None and row.shape is not None
            if use is not None:
                fact = by_use.get(id(use))
                if fact is None:
                    fact = by_use[id(use)] = BlockFact(use, st.name, inputs=ins)
                    facts.append(fact)
                fact.expanded += 1
                fact.shape = row.shape if ok and id(blk) not in stand_ins else None
                fact.params += row.params if ok else 0
                fact.macs += row.macs if ok else 0
            else:
                facts.append(BlockFact(blk, st.name, row.shape if ok else None, row.params if ok else 0,
                                       row.macs if ok else 0, row.copies if row else 1, inputs=ins))
            shape = row.shape if ok else None
    return facts
