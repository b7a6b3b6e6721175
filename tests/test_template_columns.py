"""Columns of errors inside template expansions: the template line as written, not the filled-in text."""
from __future__ import annotations

import pytest

from netc.diagnostics import NetcError, Span, render_error
from netc.frontends.load import parse_source
from netc.semantic.analyze import analyze
from netc.semantic.templates import FilledSpan

SPEC = """input img# 32x32x3
template two_c_k:
    cn_k{k}_c{c}_nre  cn_k{k}_c{c}
a#:
    select:img#
    x#two_c8_k3
output a#
"""


def _error(text: str, file: str = "t.net") -> NetcError:
    with pytest.raises(NetcError) as exc:
        analyze(parse_source(text, file))
    return exc.value


def _caret(text: str, old: str, new: str) -> tuple[int, int, int, str]:
    """(line, col, end col, the characters under the caret) of the first error once ``old`` reads ``new``."""
    changed = text.replace(old, new, 1)
    d = _error(changed).diagnostics[0]
    line = changed.splitlines()[d.span.line - 1]
    return d.span.line, d.span.col, d.span.end_col, line[d.span.col - 1:d.span.end_col - 1]


def test_unknown_argument_after_placeholders():
    # `cn_k{k}_c{c}_q9`: the filled text is `cn_k3_c8_q9`, where `q9` sits 4 columns left of the template's
    assert _caret(SPEC, "cn_k{k}_c{c}_nre", "cn_k{k}_c{c}_q9")[1:] == (18, 20, "q9")


def test_unknown_activation_in_second_block_of_line():
    line, col, end, under = _caret(SPEC, "_nre  cn_k{k}_c{c}", "_nre  cn_k{k}_c{c}_nzz")
    assert (line, under) == (3, "zz") and col == len("    cn_k{k}_c{c}_nre  cn_k{k}_c{c}_n") + 1


def test_bad_value_from_a_placeholder_points_at_the_placeholder():
    # the use gives `kz`: the bad value is the whole of `{k}` in the template (the first block that reads it)
    err = _error(SPEC.replace("x#two_c8_k3", "x#two_c8_kz"))
    d = err.diagnostics[0]
    assert "found `z`" in d.message
    line = SPEC.splitlines()[d.span.line - 1]
    assert line[d.span.col - 1:d.span.end_col - 1] == "{k}" and d.span.col == 9
    assert any("used at t.net:6:5" in n for n in d.notes)


def test_syntax_error_after_placeholders():
    err = _error(SPEC.replace("cn_k{k}_c{c}_nre  cn_k{k}_c{c}", "cn_k{k}_c{c}_nre  cn_k{k}_c{c}_"))
    d = err.diagnostics[0]
    assert d.span.line == 3 and d.span.col == len("    cn_k{k}_c{c}_nre  cn_k{k}_c{c}_") + 1   # the end of the text


def test_rendered_caret_sits_under_the_written_characters():
    text = SPEC.replace("cn_k{k}_c{c}_nre", "cn_k{k}_c{c}_q9")
    err = _error(text)
    rows = render_error(err.with_source("t.net", text.splitlines())).splitlines()
    at = next(i for i, ln in enumerate(rows) if "cn_k{k}_c{c}_q9" in ln)
    src, caret = rows[at], rows[at + 1]
    assert src[caret.index("^"):caret.index("^") + 2] == "q9"


def test_filled_span_maps_offsets_to_template_columns():
    # template `a{x}b` at column 10 filled with x = "123": filled `a123b`
    s = FilledSpan("f", 1, 10, 1, 15, starts=(0, 1, 1, 1, 4), ends=(1, 4, 4, 4, 5))
    assert (s.shifted(0, 1).col, s.shifted(0, 1).end_col) == (10, 11)
    assert (s.shifted(2, 1).col, s.shifted(2, 1).end_col) == (11, 14)   # inside the value: the `{x}`
    assert (s.shifted(4, 1).col, s.shifted(4, 1).end_col) == (14, 15)   # `b`
    assert (s.shifted(5, 1).col, s.shifted(5, 1).end_col) == (15, 16)   # just past the end
    inner = s.shifted(1, 4)                                              # `123b` -> `{x}b`, then its `b`
    assert (inner.col, inner.end_col) == (11, 15) and inner.shifted(3, 1).col == 14
    assert isinstance(Span("f", 1, 1).shifted(2, 1), Span)
