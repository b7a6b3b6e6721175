"""The `.net` parse for editors: it goes on past mistakes, line by line.

A statement is one line, so a text that does not parse whole is parsed a line at a time: each line that fails
is one error, and stands in the spec as what it was probably meant to be (a block line becomes FAILED blocks
carrying its labels, a misspelt `input` line leaves its names unknown-but-failed), so that the partial
analysis (netc/semantic/partial.py) reports what else is wrong without errors that follow from it.
"""
from __future__ import annotations

import dataclasses
import difflib
import re

from lark import Token
from lark.exceptions import UnexpectedInput

from netc import ast
from netc.diagnostics import NetcError, Span
from netc.frontends.text import (_HASHNAME, _HEADER_WITH_BLOCK, _LOCAL, _block, _statement, _syntax_error, parser,
                                 split_templates)
from netc.semantic.multipliers import SCALE_WORDS

FAILED = "failed"   # the kind of a stand-in block for a line that did not parse (recovering parse only)


def _names(line: str) -> list[tuple[int, int]]:
    """(start, end) of each name ending in `#` on ``line``, in linear time (a regex search for them is
    quadratic on a long run of letters without `#`)."""
    out, i = [], line.find("#")
    while i >= 0:
        j = i
        while j > 0 and line[j - 1].isascii() and (line[j - 1].isalnum() or line[j - 1] == "_"):
            j -= 1
        while j < i and line[j] == "_":   # a name starts with a letter or digit
            j += 1
        if j < i and (not out or j >= out[-1][1]):
            out.append((j, i + 1))
        i = line.find("#", i + 1)
    return out


def _failed_blocks(line: str, lineno: int, file: str, first: bool) -> list[ast.Block]:
    """Stand-ins for a block line that did not parse: one per label written on it (so uses of those labels
    are known names whose definition failed), or one without a label."""
    out = []
    for start, end in _names(line):
        if line[end:end + 1] == ":" or (start > 0 and line[start - 1] == ":"):
            continue   # a reference `a#` of an op, or a header
        span = Span(file, lineno, start + 1, lineno, end + 1)
        out.append(ast.Block(line[start:end], span, FAILED, "", span, line[start:end], span))
    if not out or first:
        col = len(line) - len(line.lstrip()) + 1
        span = Span(file, lineno, col, lineno, len(line.rstrip()) + 1)
        out.insert(0, ast.Block(line.strip(), span, FAILED, "", span))
    return out


def failed_block(text: str, span: Span) -> ast.Block:
    """A stand-in for one block string that did not parse (a YAML item), keeping the label it starts with."""
    m = _HASHNAME.match(text)
    label = m.group(0) if m and text[m.end():m.end() + 1] != ":" else None
    return ast.Block(text, span, FAILED, "", span, label, span if label else None)


def _header_rest(rest: str, lineno: int, file: str) -> list[ast.Block]:
    """The blocks written after a stack header on its own line (`b#: select:img#`, reported already), read
    as the stack's first line when they parse; else a stand-in."""
    try:
        sts = _parse_line(rest, lineno)
        if len(sts) == 1 and sts[0].data == "block_line":
            return [_block(b, file, rest + "\n", None) for b in sts[0].children]
    except (UnexpectedInput, NetcError):
        pass
    return _failed_blocks(rest, lineno, file, True)


def _parse_line(line: str, lineno: int) -> list:
    """The statements of one line, parsed alone, their tokens moved to line ``lineno`` (positions stay
    offsets into the line)."""
    sts = parser().parse(line + "\n", start="start").children
    for st in sts:
        for tok in st.scan_values(lambda v: isinstance(v, Token)):
            tok.line = tok.end_line = lineno
    return sts


def _at_line(err: NetcError, lineno: int) -> NetcError:
    """``err`` (from a line parsed alone, at line 1) moved to line ``lineno``."""
    for d in err.diagnostics:
        if d.span is not None:
            d.span = dataclasses.replace(d.span, line=lineno, end_line=None if d.span.end_line is None else lineno)
    return err


_WORD = re.compile(r"[ \t\f]*([A-Za-z]+)")


def _line_kind(line: str) -> str:
    """What a line that did not parse was probably meant to be: "header", "input", "output", "scale" or
    "blocks" (the statement keywords, misspelt or not, by their first word)."""
    if _HEADER_WITH_BLOCK.match(line) or re.match(r"[ \t\f]*[A-Za-z0-9][A-Za-z0-9_]*#:", line):
        return "header"
    m = _WORD.match(line)
    word = m.group(1).lower() if m else ""
    if word and line[m.end():m.end() + 1] in (" ", "\t", "\f", ""):
        for kind, words in (("input", ("input", "inputs")), ("output", ("output", "outputs")),
                            ("scale", tuple(SCALE_WORDS))):
            if word in words or difflib.get_close_matches(word, words, n=1, cutoff=0.7):
                return kind
    return "blocks"


def parse_text_recovering(text: str, file: str) -> tuple[ast.Spec, list[NetcError], dict[str, list]]:
    """Parse a `.net` file, going on past mistakes (for editors): each line that fails is one error, and
    stands in the spec as what it was probably meant to be. Returns the spec (block lines that failed are
    blocks of kind FAILED), the errors in line order, and what the failed lines leave unknown:
    ``{"names": [labels/names written on failed lines outside any stack's blocks], "kinds": [line kinds]}``.
    Text that parses whole gives exactly :func:`parse_text`'s spec and no error."""
    errors: list[NetcError] = []
    lines = text.split("\n")
    while True:   # a bad template header is one error; its line is blanked and the rest is read
        try:
            text, templates = split_templates("\n".join(lines), file)
            break
        except NetcError as err:
            errors.append(err)
            i = err.span.line - 1
            lines[i] = ""
            while i + 1 < len(lines) and (lines[i + 1][:1] in (" ", "\t") or not lines[i + 1].strip()):
                i += 1
                lines[i] = ""   # its body
    _LOCAL.comments = comments = []
    spec = ast.Spec(file=file, source_format="net", templates=templates)
    lost: dict[str, list] = {"names": [], "kinds": []}
    try:
        tree = parser().parse(text if text.endswith("\n") else text + "\n", start="start")
        statements = [(st, text, 0) for st in tree.children]
        whole = True
    except UnexpectedInput:
        whole = False
        statements = []
        comments.clear()
        for i, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            n = len(comments)
            try:
                statements += [(st, line + "\n", i + 1) for st in _parse_line(line, i + 1)]
                for tok in comments[n:]:
                    tok.line = i + 1
            except UnexpectedInput as err:
                del comments[n:]
                errors.append(_at_line(_syntax_error(err, file, line + "\n", None), i + 1))
                statements.append((None, line, i + 1))
    finally:
        _LOCAL.comments = None
    spec.comments = {t.line: (t.column, str(t)) for t in comments}
    stack: ast.Stack | None = None
    for st, source, lineno in statements:
        if st is not None:
            try:
                stack = _statement(spec, st, stack, file, source)
                continue
            except NetcError as err:
                errors.append(err)
                if whole:
                    lineno = err.span.line if err.span is not None else 0
                source = text.split("\n")[lineno - 1] if 0 < lineno <= text.count("\n") + 1 else ""
        kind = _line_kind(source)
        lost["kinds"].append(kind)
        if kind == "header":
            m = re.match(r"[ \t\f]*([A-Za-z0-9][A-Za-z0-9_]*#)", source)
            span = Span(file, lineno, m.start(1) + 1, lineno, m.end(1) + 1)
            stack = ast.Stack(m.group(1), span)
            spec.stacks.append(stack)
            rest = " " * (m.end(1) + 1) + source[m.end(1) + 1:]   # what follows `name#:`, at its columns
            stack.lines.append(_header_rest(rest, lineno, file))
        elif kind == "blocks" and stack is not None:
            stack.lines.append(_failed_blocks(source, lineno, file, not stack.lines))
        elif kind in ("input", "blocks"):   # what it would have defined: input names, labels
            lost["names"] += [source[a:b] for a, b in _names(source)
                              if source[b:b + 1] != ":" and source[a - 1:a] != ":"]
    errors.sort(key=lambda e: (e.span.line, e.span.col) if e.span is not None else (0, 0))
    return spec, errors, lost
