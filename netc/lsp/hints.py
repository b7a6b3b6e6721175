"""Inlay hints at the end of each block line: the line's output shape and its parameters."""
from __future__ import annotations

from lsprotocol import types

from netc.ir.builder import fmt_shape
from netc.lsp.analysis import Analysis
from netc.lsp.convert import utf16


def line_facts(an: Analysis) -> dict[int, list]:
    """1-based line -> the facts (BlockFact) of the blocks written on it, in order."""
    out: dict[int, list] = {}
    if an.partial is None:
        return out
    for f in an.partial.facts:
        span = f.block.span
        if span is not None and span.file == an.path:
            out.setdefault(span.line, []).append(f)
    return out


def label(facts: list) -> str | None:
    """`Nx56x56x24 · 3,744 params` for a line whose last block has a shape; None where it failed."""
    last = facts[-1]
    if last.shape is None:
        return None
    params = sum(f.params for f in facts)
    return f"{fmt_shape(last.shape)} · {params:,} params"


def inlay_hints(an: Analysis, first: int, last: int) -> list[types.InlayHint]:
    """Hints on the 0-based lines ``first``..``last``."""
    hints = []
    for line, facts in sorted(line_facts(an).items()):
        i = an.lines.editor(line, 1)[0] if hasattr(an.lines, "editor") else line - 1
        if not first <= i <= last or i >= len(an.lines):
            continue
        text = label(facts)
        if text is None:
            continue
        src = an.lines[i]
        code = src.split("//")[0].rstrip() if an.form == "net" else src.rstrip()
        hints.append(types.InlayHint(types.Position(i, utf16(src, len(code))), "  " + text,
                                     kind=types.InlayHintKind.Type, padding_left=True))
    return hints
