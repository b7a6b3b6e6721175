"""Spans (1-based, columns in characters, end exclusive) to LSP ranges (0-based, columns in UTF-16 units)."""
from __future__ import annotations

from lsprotocol import types

from netc.diagnostics import Span


_UNITS = {"utf-16": lambda c: 2 if ord(c) > 0xFFFF else 1, "utf-32": lambda c: 1,
          "utf-8": lambda c: len(c.encode("utf-8", "surrogatepass"))}
_unit = _UNITS["utf-16"]   # the position encoding agreed at initialisation (one server per process)


def set_encoding(name: str) -> None:
    """Count columns in ``name`` units ("utf-16", LSP's default, "utf-8" or "utf-32")."""
    global _unit
    _unit = _UNITS.get(str(name), _UNITS["utf-16"])


def utf16(line: str, col: int) -> int:
    """Units of the agreed encoding (UTF-16 unless agreed otherwise) before character index ``col``."""
    head = line[:max(col, 0)]
    if head.isascii():
        return len(head)
    return sum(_unit(c) for c in head)


def from_utf16(line: str, units: int) -> int:
    """The character index at ``units`` units of the agreed encoding into ``line``."""
    if line.isascii():
        return min(max(units, 0), len(line))
    n = 0
    for i, c in enumerate(line):
        if n >= units:
            return i
        n += _unit(c)
    return len(line)


def position(lines: list[str], line: int, col: int) -> types.Position:
    """The LSP position of 1-based ``line``:``col`` (clamped into the document)."""
    if not lines:
        return types.Position(0, 0)
    i = min(max(line - 1, 0), len(lines) - 1)
    text = lines[i]
    return types.Position(i, utf16(text, min(max(col - 1, 0), len(text))))


def to_range(span: Span | None, lines: list[str]) -> types.Range:
    """The range of ``span``; a span without an end covers one character; no span: the first character."""
    if span is None:
        return types.Range(types.Position(0, 0), types.Position(0, 1 if lines and lines[0] else 0))
    start = position(lines, span.line, span.col)
    end_line = span.end_line or span.line
    end_col = span.end_col if span.end_col is not None and (end_line, span.end_col) > (span.line, span.col) \
        else span.col + 1
    if span.end_col is None:
        end_line = span.line
    end = position(lines, end_line, end_col)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return types.Range(start, end)


def to_char(lines: list[str], pos: types.Position) -> tuple[int, int]:
    """The 1-based line and character column of an LSP position."""
    if not 0 <= pos.line < len(lines):
        return pos.line + 1, pos.character + 1
    return pos.line + 1, from_utf16(lines[pos.line], pos.character) + 1


def contains(span: Span | None, line: int, col: int, inclusive: bool = False) -> bool:
    """Whether 1-based ``line``:``col`` is inside ``span`` (``inclusive``: or just past its end, where a
    caret after a word stands)."""
    if span is None or span.line != line:
        return False
    end = span.end_col if span.end_col is not None else span.col + 1
    return span.col <= col < end or (inclusive and col == end)
