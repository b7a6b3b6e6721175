"""An index of a spec as written: where each name is defined and used, and what is under the caret."""
from __future__ import annotations

from dataclasses import dataclass, field

from netc import ast
from netc.diagnostics import Span
from netc.lsp.convert import contains


@dataclass
class Definition:
    name: str
    kind: str          # "input", "stack", "label", "template"
    span: Span
    node: object       # ast.InputDecl, ast.Stack, ast.Block or ast.Template


@dataclass
class Index:
    defs: dict[str, Definition] = field(default_factory=dict)        # first definition of each name
    uses: list[tuple[str, Span]] = field(default_factory=list)       # (name, span) of each reference
    blocks: list[tuple[ast.Block, str]] = field(default_factory=list)   # every written block, its stack
    templates: dict[str, ast.Template] = field(default_factory=dict)


def index(spec: ast.Spec) -> Index:
    ix = Index()
    for t in spec.templates:
        ix.templates.setdefault(t.name, t)
        ix.defs.setdefault(t.name, Definition(t.name, "template", t.span, t))
    for d in spec.inputs:
        ix.defs.setdefault(d.name, Definition(d.name, "input", d.span, d))
    for st in spec.stacks:
        ix.defs.setdefault(st.name, Definition(st.name, "stack", st.span, st))
        for blk in st.blocks:
            if blk.kind == "failed" and blk.label is None:
                continue
            if blk.kind != "failed":
                ix.blocks.append((blk, st.name))
            if blk.label is not None and blk.label_span is not None:
                ix.defs.setdefault(blk.label, Definition(blk.label, "label", blk.label_span, blk))
            for r in blk.refs:
                ix.uses.append((r.name, r.span))
            if blk.code in ix.templates:
                ix.uses.append((blk.code, blk.code_span))
    for r in spec.outputs:
        ix.uses.append((r.name, r.span))
    return ix


@dataclass
class Hit:
    """What the caret is on: a name (a definition or a use), or a block."""

    name: str | None = None
    span: Span | None = None
    block: ast.Block | None = None
    stack: str | None = None


def at(ix: Index, line: int, col: int) -> Hit:
    """The innermost thing at 1-based ``line``:``col``: what the caret is inside, else what it just follows."""
    for inclusive in (False, True):
        for name, span in ix.uses:
            if contains(span, line, col, inclusive):
                return Hit(name, span)
        for d in ix.defs.values():
            if contains(d.span, line, col, inclusive) and d.span.line == line:
                return Hit(d.name, d.span)
        for blk, stack in ix.blocks:
            if contains(blk.span, line, col, inclusive):
                return Hit(block=blk, stack=stack)
    return Hit()
