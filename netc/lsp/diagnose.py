"""netc's diagnostics as LSP diagnostics: the caret span as the range, notes as related information."""
from __future__ import annotations

import re

from lsprotocol import types

from netc.diagnostics import Diagnostic, Span
from netc.lsp.analysis import Analysis
from netc.lsp.convert import to_range

_PLACE = re.compile(r"(?P<file>[^\s`(]+?):(?P<line>\d+):(?P<col>\d+)")
_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}


def _note_location(note: str, an: Analysis, uri: str, own: types.Range) -> types.Location:
    """Where a note points (`... used at FILE:LINE:COL`) in this document; else the diagnostic's own range."""
    for m in _PLACE.finditer(note):
        if m.group("file") == an.path:
            span = Span(an.path, int(m.group("line")), int(m.group("col")))
            return types.Location(uri, to_range(span, an.lines))
    return types.Location(uri, own)


def to_lsp(d: Diagnostic, an: Analysis, uri: str) -> types.Diagnostic:
    span = d.span if d.span is not None and d.span.file == an.path else None
    message = d.message
    if d.span is not None and span is None:   # in another file (a plugin's line)
        message += f" (at {d.span})"
    rng = to_range(span, an.lines)
    related = [types.DiagnosticRelatedInformation(_note_location(n, an, uri, rng), n) for n in d.notes]
    return types.Diagnostic(rng, message, severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Error),
                            source="netc", related_information=related or None)


def diagnostics(an: Analysis, uri: str) -> list[types.Diagnostic]:
    return [to_lsp(d, an, uri) for d in an.diagnostics]
