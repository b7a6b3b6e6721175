"""Go to definition, find references (labels, stacks, inputs, templates) and document symbols."""
from __future__ import annotations

from lsprotocol import types

from netc.lsp.analysis import Analysis
from netc.lsp.convert import to_range
from netc.lsp.lookup import Hit, Index


def _name_of(hit: Hit, ix: Index) -> str | None:
    if hit.name is not None:
        return hit.name
    if hit.block is not None and hit.block.code in ix.templates:
        return hit.block.code
    return None


def definition(an: Analysis, ix: Index, hit: Hit, uri: str) -> list[types.Location]:
    name = _name_of(hit, ix)
    d = ix.defs.get(name) if name else None
    return [types.Location(uri, to_range(d.span, an.lines))] if d is not None else []


def references(an: Analysis, ix: Index, hit: Hit, uri: str, declaration: bool) -> list[types.Location]:
    name = _name_of(hit, ix)
    if name is None:
        return []
    spans = [s for n, s in ix.uses if n == name]
    d = ix.defs.get(name)
    if declaration and d is not None:
        spans.insert(0, d.span)
    return [types.Location(uri, to_range(s, an.lines)) for s in spans if s.file == an.path]


def symbols(an: Analysis, ix: Index) -> list[types.DocumentSymbol]:
    """Inputs, stacks (with their labelled blocks), templates and outputs."""
    spec, lines = an.spec, an.lines
    if spec is None:
        return []
    S = types.SymbolKind
    out = []
    shapes = an.partial.names if an.partial is not None else {}

    def detail(name):
        from netc.ir.builder import fmt_shape
        s = shapes.get(name)
        return fmt_shape(s) if s is not None else None

    for d in spec.inputs:
        r = to_range(d.span, lines)
        out.append(types.DocumentSymbol(d.name, S.Variable, r, r, detail=detail(d.name)))
    for t in spec.templates:
        r = to_range(t.span, lines)
        full = r
        if t.lines:
            last = t.lines[-1]
            full = types.Range(types.Position(r.start.line, 0), types.Position(last.line - 1, len(last.text) +
                                                                               last.col - 1))
        out.append(types.DocumentSymbol(t.name, S.Function, full, r, detail=t.header))
    for st in spec.stacks:
        sel = to_range(st.span, lines)
        blocks = [b for b in st.blocks if b.span is not None and b.span.file == an.path]
        full = sel
        if blocks:
            end = to_range(blocks[-1].span, lines).end
            if (end.line, end.character) > (sel.end.line, sel.end.character):
                full = types.Range(sel.start, end)
        children = [types.DocumentSymbol(b.label, S.Field, to_range(b.span, lines), to_range(b.label_span, lines),
                                         detail=detail(b.label))
                    for b in blocks if b.label is not None and b.label_span is not None
                    and b.kind != "failed"]
        out.append(types.DocumentSymbol(st.name, S.Module, full, sel, detail=detail(st.name),
                                        children=children or None))
    for r in spec.outputs:
        rng = to_range(r.span, lines)
        out.append(types.DocumentSymbol(f"output {r.name}", S.Event, rng, rng, detail=detail(r.name)))
    return out
