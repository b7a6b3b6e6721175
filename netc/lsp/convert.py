"""Spans (1-based, columns in characters, end exclusive) to LSP ranges (0-based, columns in UTF-16 units)."""
from __future__ import annotations

import bisect
import re

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


_EDITOR_BREAKS = re.compile(r"\r\n|\r|\n")   # what LSP counts as line ends


class Lines(list):
    """A document's lines as the editor counts them, and where the lines its parser counts (a YAML reader
    also breaks at NEL and U+2028/9, the `.net` parser not at a lone CR) lie in them."""

    def __init__(self, text: str, breaks: str):
        super().__init__(_EDITOR_BREAKS.split(text))
        parser = re.split(breaks, text)
        self.same = parser == list(self)
        if not self.same:
            self.p_starts = [0] + [m.end() for m in re.finditer(breaks, text)]
            self.e_starts = [0] + [m.end() for m in _EDITOR_BREAKS.finditer(text)]

    def editor(self, line: int, col: int) -> tuple[int, int]:
        """0-based editor line and character index of the parser's 1-based ``line``:``col``."""
        if self.same:
            return line - 1, col - 1
        line = min(max(line, 1), len(self.p_starts))
        offset = self.p_starts[line - 1] + max(col - 1, 0)
        i = bisect.bisect_right(self.e_starts, offset) - 1
        return i, offset - self.e_starts[i]

    def parser(self, i: int, char: int) -> tuple[int, int]:
        """The parser's 1-based line and column of 0-based editor line ``i``, character index ``char``."""
        if self.same:
            return i + 1, char + 1
        offset = self.e_starts[min(max(i, 0), len(self.e_starts) - 1)] + char
        line = bisect.bisect_right(self.p_starts, offset)
        return line, offset - self.p_starts[line - 1] + 1


def position(lines: list[str], line: int, col: int) -> types.Position:
    """The LSP position of the parser's 1-based ``line``:``col`` (clamped into the document)."""
    if not lines:
        return types.Position(0, 0)
    if isinstance(lines, Lines):
        i, c = lines.editor(line, col)
        line, col = i + 1, c + 1
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
    """The parser's 1-based line and character column of an LSP position."""
    if not 0 <= pos.line < len(lines):
        return pos.line + 1, pos.character + 1
    char = from_utf16(lines[pos.line], pos.character)
    if isinstance(lines, Lines):
        return lines.parser(pos.line, char)
    return pos.line + 1, char + 1


def contains(span: Span | None, line: int, col: int, inclusive: bool = False) -> bool:
    """Whether 1-based ``line``:``col`` is inside ``span`` (``inclusive``: or just past its end, where a
    caret after a word stands)."""
    if span is None or span.line != line:
        return False
    end = span.end_col if span.end_col is not None else span.col + 1
    return span.col <= col < end or (inclusive and col == end)
