"""The `.net` text frontend: Lark (LALR, contextual lexer) over netc/grammar.lark -> AST.

Block strings in YAML specs go through the same grammar (start rule ``one_block``), so the
syntax of a block is defined once.
"""
from __future__ import annotations

import functools
import re
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netc import ast
from netc.diagnostics import NetcError, Span, printable

_EXPECTED_WORDS = {
    "HASHNAME": "a name ending in `#`",
    "NAME": "a block type",
    "OP": "an op like `cnct:`",
    "ARG": "an argument like `_k3`",
    "SHAPE": "a size like `224x224x3`",
    "STACK_HEADER": "a stack header like `backbone#:`",
    "_NL": "the end of the line",
    "INPUT": "`input`",
    "INPUTS": "`inputs`",
    "OUTPUT": "`output`",
    "SCALE": "`width` or `depth`",
    "NUMBER": "a number like `1.4`",
    "$END": "the end of the text",
}


_HASHNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*#")   # the grammar's HASHNAME
_COMMENTS: list[Token] = []   # `//` comments of the file being parsed (the grammar ignores them)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    text = resources.files("netc").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", start=["start", "one_block", "one_input"],
                maybe_placeholders=True,   # no propagate_positions: spans come from tokens (2.5x faster)
                lexer_callbacks={"COMMENT": _COMMENTS.append})


def _tok_span(file: str, tok: Token, base: Span | None = None) -> Span:
    if base is None:
        return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)
    return base.shifted(tok.column - 1, len(tok))


def _describe_expected(expected) -> str:
    words = sorted({_EXPECTED_WORDS.get(e, f"`{e.lower()}`") for e in expected})
    if not words:
        return ""
    if len(words) > 4:
        words = words[:4] + ["..."]
    return "; expected " + ", ".join(words)


def _syntax_error(err: UnexpectedInput, file: str, text: str, base: Span | None) -> NetcError:
    line, col = err.line, err.column
    if isinstance(err, UnexpectedCharacters):
        ch = printable(text[err.pos_in_stream]) if 0 <= err.pos_in_stream < len(text) else "?"
        if ch == "#":
            msg = "unexpected `#`: a label is `name#` before the block, and `#` cannot follow an argument"
        elif ch in " \t":
            msg = "unexpected space"
        else:
            msg = f"unexpected character `{ch}`" + _describe_expected(err.allowed or [])
    elif isinstance(err, UnexpectedToken):
        tok = err.token
        before = text if tok.type == "$END" or tok.start_pos is None else text[:tok.start_pos]
        label = re.search(r"([A-Za-z0-9][A-Za-z0-9_]*#)[ \t\f]*$", before)
        if tok.type in ("$END", "_NL") and label and {"NAME", "OP"} & set(err.expected):
            msg = f"the label `{label.group(1)}` labels nothing: write it directly before its block, " \
                  f"as in `{label.group(1)}cn_k3_c8`"
            pos = label.start(1)
            line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        elif base is not None and tok.type != "$END" and before[-1:].isspace():
            msg = f"space inside a block string before `{tok}`; write the block without spaces"
        elif tok.type == "$END":
            msg = "unexpected end of text" + _describe_expected(err.expected)
        elif tok.type == "_NL":
            msg = "unexpected end of line" + _describe_expected(err.expected)
        else:
            msg = f"unexpected `{tok}`" + _describe_expected(err.expected)
    elif isinstance(err, UnexpectedEOF):
        msg = "unexpected end of text" + _describe_expected(err.expected)
    else:  # pragma: no cover
        msg = str(err).splitlines()[0]
    if line is None or line < 1:
        line, col = (text.count("\n") + 1, 1) if base is None else (1, 1)
    if base is not None:
        return NetcError(msg, base.shifted(max(col, 1) - 1, 1))
    return NetcError(msg, Span(file, line, max(col, 1), line, max(col, 1) + 1))


def _check_adjacent(tokens: list[Token], file: str, base: Span | None) -> None:
    """A block string holds no spaces: `cn _k3` is two things, not one block."""
    for prev, tok in zip(tokens, tokens[1:]):
        if tok.start_pos != prev.end_pos:
            raise NetcError(f"space inside a block string before `{tok}`; write the block without spaces",
                            _tok_span(file, tok, base))


def _block(tree: Tree, file: str, source: str, base: Span | None) -> ast.Block:
    label_tok, body = tree.children
    tokens: list[Token] = []
    if label_tok is not None:
        tokens.append(label_tok)
    tokens += [t for t in body.children if isinstance(t, Token)]
    _check_adjacent(tokens, file, base)
    first, last = tokens[0], tokens[-1]
    text = source[first.start_pos:last.end_pos]
    if base is None:
        span = Span(file, first.line, first.column, last.end_line, last.end_column)
    else:
        span = base.shifted(first.column - 1, len(text))
    label = str(label_tok) if label_tok is not None else None
    label_span = _tok_span(file, label_tok, base) if label_tok is not None else None
    if body.data == "layer":
        code_tok, *arg_toks = body.children
        args = tuple(ast.ArgToken(str(t)[1:], _tok_span(file, t, base).shifted(1, len(t) - 1)) for t in arg_toks)
        return ast.Block(text, span, "layer", str(code_tok), _tok_span(file, code_tok, base), label, label_span,
                         args=args)
    op_tok = body.children[0]   # `code:ref:ref...`, one token; empty refs (`cnct::a#::`) are ignored
    code, *parts = str(op_tok).split(":")
    refs, offset = [], len(code) + 1
    for part in parts:
        if part:
            ref_span = _part_span(file, op_tok, base, offset, len(part))
            if not _HASHNAME.fullmatch(part):
                hint = f": write `{part}#`" if _HASHNAME.fullmatch(part + "#") else f" (like `c3#`), found `{part}`"
                raise NetcError(f"an argument of `{code}:` is a name ending in `#`{hint}", ref_span)
            refs.append(ast.Ref(part, ref_span))
        offset += len(part) + 1
    return ast.Block(text, span, "op", code, _part_span(file, op_tok, base, 0, len(code)), label, label_span,
                     refs=tuple(refs))


def _part_span(file: str, tok: Token, base: Span | None, offset: int, length: int) -> Span:
    """The span of ``length`` characters ``offset`` characters into a (one-line) token."""
    if base is None:
        return Span(file, tok.line, tok.column + offset, tok.line, tok.column + offset + length)
    return base.shifted(tok.column - 1 + offset, length)


def parse_block_string(text: str, base: Span) -> ast.Block:
    """Parse one block string (from YAML) whose first character sits at ``base``."""
    try:
        tree = parser().parse(text, start="one_block")
    except UnexpectedInput as err:
        raise _syntax_error(err, base.file, text, base) from None
    return _block(tree.children[0], base.file, text, base)


def _input_decl(decl: Tree, file: str, base: Span | None) -> ast.InputDecl:
    name_tok, op_tok, shape_tok = decl.children
    _check_adjacent([t for t in (name_tok, op_tok) if t is not None], file, base)
    d = ast.InputDecl(str(name_tok), _tok_span(file, name_tok, base))
    if op_tok is not None:
        d.op, d.op_span = str(op_tok), _tok_span(file, op_tok, base)
    d.text = str(name_tok) + (d.op or "")
    if shape_tok is not None:
        if any(len(part) > 18 for part in str(shape_tok).split("x")):   # past every limit, and what int() reads
            raise NetcError(f"input size `{str(shape_tok)[:40]}` is beyond any limit", _tok_span(file, shape_tok, base))
        d.size, d.channels = _shape(shape_tok)
    return d


def parse_input_string(text: str, base: Span) -> ast.InputDecl:
    """Parse one entry of a YAML input stack (`img#norm1`) whose first character sits at ``base``."""
    try:
        tree = parser().parse(text, start="one_input")
    except UnexpectedInput as err:
        raise _syntax_error(err, base.file, text, base) from None
    return _input_decl(tree.children[0], base.file, base)


def _shape(tok: Token) -> tuple[tuple[int | None, int | None], int]:
    h, w, c = str(tok).split("x")
    return (None if h == "?" else int(h), None if w == "?" else int(w)), int(c)


def set_scale(spec: ast.Spec, word: str, value: str, span: Span) -> None:
    """Record `width X` / `depth X` (either at most once, X > 0) on the spec."""
    if getattr(spec, word) is not None:
        raise NetcError(f"`{word}` is given twice", span)
    try:
        number = float(value)
    except ValueError:
        raise NetcError(f"`{word}` needs a number like `1.4`, found `{value}`", span) from None
    if not 0.0 < number <= 100.0:
        raise NetcError(f"`{word}` must be greater than 0 and at most 100, found {value}", span)
    setattr(spec, word, number)
    setattr(spec, f"{word}_span", span)


def parse_text(text: str, file: str) -> ast.Spec:
    """Parse a whole `.net` file."""
    _COMMENTS.clear()
    try:
        tree = parser().parse(text if text.endswith("\n") else text + "\n", start="start")
    except UnexpectedInput as err:
        raise _syntax_error(err, file, text, None) from None
    spec = ast.Spec(file=file, source_format="net")
    spec.comments = {t.line: (t.column, str(t)) for t in _COMMENTS}
    _COMMENTS.clear()
    stack: ast.Stack | None = None
    for st in tree.children:
        kind = st.data
        if kind == "stack_header":
            tok = st.children[0]
            stack = ast.Stack(str(tok)[:-1], _tok_span(file, tok).shifted(0, len(tok) - 1))
            spec.stacks.append(stack)
        elif kind == "inputs_stmt":
            tok = st.children[1]
            spec.input_stack, spec.input_stack_span = str(tok), _tok_span(file, tok)
        elif kind == "input_stmt":
            spec.input_lines.append([_input_decl(d, file, None) for d in st.children[1:]])
        elif kind == "output_stmt":
            if spec.outputs_span is None:
                spec.outputs_span = _tok_span(file, st.children[0])
            spec.outputs += [ast.Ref(str(t), _tok_span(file, t)) for t in st.children[1:]]
        elif kind == "scale_stmt":
            word, num = st.children
            set_scale(spec, str(word), str(num), _tok_span(file, num))
        elif kind == "block_line":
            blocks = [_block(b, file, text, None) for b in st.children]
            if stack is None:
                raise NetcError("block outside any stack; start a stack with a header like `backbone#:`",
                                blocks[0].span)
            stack.lines.append(blocks)
    return spec
