"""Source spans, user-facing errors and their rendering.

Every mistake a user can make is a :class:`NetcError` holding one or more
:class:`Diagnostic` entries; each is printed as ``file:line:col: error: message``,
then the source line and a caret under the offending text.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column, end column exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def shifted(self, offset: int, length: int | None = None) -> "Span":
        """A span ``offset`` characters to the right on the same line (for text inside a block string)."""
        col = self.col + offset
        end = col + length if length is not None else None
        return Span(self.file, self.line, col, self.line, end)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    message: str
    span: Span | None = None
    severity: str = "error"
    notes: list[str] = field(default_factory=list)


class NetcError(Exception):
    """A user error: one or more located diagnostics. Exit code 2."""

    def __init__(self, message: str | None = None, span: Span | None = None, *,
                 diagnostics: Iterable[Diagnostic] | None = None, notes: Iterable[str] = ()):
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])
        if message is not None:
            self.diagnostics.insert(0, Diagnostic(message, span, notes=list(notes)))
        self.sources: dict[str, list[str]] = {}   # file -> its lines, for printing the source under a message
        super().__init__(self.diagnostics[0].message if self.diagnostics else "error")

    def with_source(self, file: str, lines: list[str] | None) -> "NetcError":
        """Attach the lines of ``file`` (once: the innermost frontend's reading wins); returns self."""
        if lines is not None:
            self.sources.setdefault(file, lines)
        return self

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def span(self) -> Span | None:
        return self.diagnostics[0].span


class DiagnosticBag:
    """Collects independent errors so a file reports all of them at once (up to a limit)."""

    def __init__(self, limit: int = 20):
        self.items: list[Diagnostic] = []
        self.limit = limit
        self._same: dict[tuple, Diagnostic] = {}   # (severity, message, span) -> the diagnostic held

    def add(self, err: NetcError) -> None:
        """Add ``err``'s diagnostics. One already held (same severity, message and place: a template's mistake,
        met again at another use of the template) is reported once, the new use sites added to its notes."""
        for d in err.diagnostics:
            same = self._same.get((d.severity, d.message, d.span)) if d.span is not None else None
            if same is not None:
                same.notes.extend(n for n in d.notes if n not in same.notes)
            elif len(self.items) < self.limit:
                self.items.append(d)
                if d.span is not None:
                    self._same[(d.severity, d.message, d.span)] = d

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def full(self) -> bool:
        """No further error would be shown: costly extras (suggestions) need not be computed."""
        return len(self.items) >= self.limit

    def raise_if_any(self) -> None:
        """Raise the collected errors, in file order (those without a place first)."""
        if self.items:
            raise NetcError(diagnostics=sorted(self.items, key=lambda d: (0, "", 0, 0) if d.span is None
                                               else (1, d.span.file, d.span.line, d.span.col)))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean `x`?)' when a close match exists, else ''."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


NET_BREAKS = r"\r?\n"                             # what the `.net` parser counts as a new line
YAML_BREAKS = r"\r\n|[\r\n\x85\u2028\u2029]"      # what PyYAML counts


def split_lines(text: str, breaks: str = NET_BREAKS) -> list[str]:
    """The lines of ``text`` as its parser counts them (not ``str.splitlines``, which also breaks at form
    feeds and other characters a parser keeps inside a line), so line numbers agree."""
    return re.split(breaks, text)


def printable(ch: str) -> str:
    """A character as a message shows it: itself, or its code point when it would not print (`\\x00`, `U+2028`)."""
    if ch.isprintable():
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"U+{ord(ch):04X}"


CLIP = 100   # source lines longer than this are shown as a window around the caret


def _clip(src: str, col: int, width: int) -> tuple[str, int]:
    """A window of about CLIP characters of ``src`` around column ``col``; returns it and the caret's column."""
    if len(src) <= CLIP:
        return src, col
    start = max(0, min(col - 1 - CLIP // 3, len(src) - CLIP))
    end = start + CLIP
    head = "..." if start > 0 else ""
    tail = "..." if end < len(src) else ""
    return head + src[start:end] + tail, col - start + len(head)


def render(diag: Diagnostic, sources: dict[str, list[str]] | None = None) -> str:
    """``file:line:col: error: message`` + source line + caret (+ notes); ``sources`` maps files to lines."""
    out = []
    if diag.span is not None:
        s = diag.span
        out.append(f"{s.file}:{s.line}:{s.col}: {diag.severity}: {diag.message}")
        lines = (sources or {}).get(s.file)
        src = lines[s.line - 1] if lines is not None and 0 < s.line <= len(lines) else None
        if src is not None:
            src = "".join(c if c.isprintable() else " " if c == "\t" else "\ufffd" for c in src)
            width = 1
            if s.end_col is not None and (s.end_line in (None, s.line)) and s.end_col > s.col:
                width = s.end_col - s.col
            width = max(1, min(width, max(1, len(src) - s.col + 1)))
            if len(src) > CLIP:
                width = min(width, CLIP // 2)
            shown, col = _clip(src, s.col, width)
            out.append(f"    {shown}")
            out.append("    " + " " * (col - 1) + "^" + "~" * (width - 1))
    else:
        out.append(f"netc: {diag.severity}: {diag.message}")
    for n in diag.notes:
        out.append(f"    note: {n}")
    return "\n".join(out)


def render_error(err: NetcError) -> str:
    return "\n".join(render(d, err.sources) for d in err.diagnostics)
