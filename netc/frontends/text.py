"""The `.net` text frontend: Lark (LALR, contextual lexer) over netc/grammar.lark -> AST.

Block strings in YAML specs go through the same grammar (start rule ``one_block``), so the
syntax of a block is defined once.
"""
from __future__ import annotations

import difflib
import functools
import os
import re
import threading
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netc import ast
from netc.diagnostics import NetcError, Span, printable
from netc.frontends.scale import explain_scale_line, set_rounding, set_scale

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
_LOCAL = threading.local()   # per thread: the `//` comments of the file being parsed (the grammar ignores them)


def _comment(tok: Token) -> Token:
    comments = getattr(_LOCAL, "comments", None)
    if comments is not None:
        comments.append(tok)
    return tok


def _cache_file() -> str | bool:
    """Where Lark keeps the analysed grammar between runs (a third of `netc summary`'s start-up): a file in
    the user's own cache directory, never the shared temporary directory (Lark unpickles it). Lark checks the
    grammar's hash and its own version in the file and rebuilds when they differ; ``NETC_PARSER_CACHE=0``
    or an unwritable directory turns the cache off."""
    if os.environ.get("NETC_PARSER_CACHE", "1") == "0":
        return False
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "netc")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.access(folder, os.W_OK) or os.stat(folder).st_uid != os.getuid():
            return False
    except OSError:
        return False
    return os.path.join(folder, "grammar.lark.cache")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The one (cached, shared) parser; it keeps no state between parses, so threads may share it."""
    text = resources.files("netc").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", start=["start", "one_block", "one_input"],
                maybe_placeholders=True,   # no propagate_positions: spans come from tokens (2.5x faster)
                lexer_callbacks={"COMMENT": _comment}, cache=_cache_file())


def _trailing_label(before: str) -> tuple[str, int] | None:
    """The label (`name#`) that ``before`` ends with, ignoring spaces, and where it starts; linear time
    (a regex search for it is quadratic on a long run of letters)."""
    end = len(before.rstrip(" \t\f"))
    if end == 0 or before[end - 1] != "#":
        return None
    i = end - 1
    while i > 0 and (before[i - 1].isascii() and (before[i - 1].isalnum() or before[i - 1] == "_")):
        i -= 1
    while i < end - 1 and before[i] == "_":   # a name starts with a letter or digit
        i += 1
    return (before[i:end], i) if i < end - 1 else None


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


_KEYWORDS = ("input", "inputs", "output")
_FIRST_WORD = re.compile(r"[ \t\f]*([A-Za-z]+)[ \t\f]+\S")
_HEADER_WITH_BLOCK = re.compile(r"[ \t\f]*[A-Za-z0-9][A-Za-z0-9_]*#:[ \t\f]*\S")
_SIZE_WITHOUT_CHANNELS = re.compile(r"(\d+|\?)x(\d+|\?)(?![x\d?])")


def _error_pos(err: UnexpectedInput) -> int | None:
    if isinstance(err, UnexpectedCharacters):
        return err.pos_in_stream
    tok = getattr(err, "token", None)
    return tok.start_pos if tok is not None and tok.type != "$END" else None


def _explain(err: UnexpectedInput, text: str, base: Span | None) -> tuple | None:
    """What the notation expects where a common mistake breaks the syntax: (message, position to point at or
    None for the error's own[, width]), or None when no explanation fits."""
    pos = _error_pos(err)
    if pos is None or not 0 <= pos <= len(text):
        return None
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:end if end >= 0 else len(text)]
    ch = text[pos] if pos < len(text) else ""
    if base is None:
        scale = explain_scale_line(line, pos - start)
        if scale is not None:
            return scale[0], start + scale[1], scale[2]
        m = _FIRST_WORD.match(line)
        if m and m.group(1) not in _KEYWORDS:
            close = difflib.get_close_matches(m.group(1).lower(), _KEYWORDS, n=1, cutoff=0.7)
            if close:
                return (f"unknown statement `{m.group(1)}`; did you mean `{close[0]}`? (a line is `input ...`, "
                        f"`inputs ...`, `output ...`, a stack header `name#:`, or blocks)", start + m.start(1),
                        len(m.group(1)))
        if ch == ":" and _HEADER_WITH_BLOCK.match(line) and text[start:pos].strip().endswith("#"):
            return ("a stack header `name#:` stands alone on its line: put the stack's blocks on the lines below "
                    "it, indented", None)
        if isinstance(err, UnexpectedCharacters) and _SIZE_WITHOUT_CHANNELS.match(text, pos) \
                and line.lstrip().startswith("input"):
            size = _SIZE_WITHOUT_CHANNELS.match(text, pos).group(0)
            dynamic = "" if "?" in size else " (`?x?x3` for a dynamic size)"
            return f"an input size is HxWxC, channels included: `{size}x3` for 3 channels{dynamic}", None
    if isinstance(err, UnexpectedCharacters):
        if ch == "," and text[pos - 1:pos].isdigit() and text[pos + 1:pos + 2].isdigit():
            return "a number with a fraction is written with a point (`e2.5`) or as a ratio (`e5/2`), " \
                   "not with a comma", None
        if ch and not ch.isascii() and ch.isprintable():
            return (f"unexpected character `{ch}`: names, block types and arguments are ASCII letters, digits and "
                    f"`_`", None)
    return None


def _syntax_error(err: UnexpectedInput, file: str, text: str, base: Span | None) -> NetcError:
    line, col, width = err.line, err.column, 1
    explained = _explain(err, text, base)
    if explained is not None:
        msg, pos, *rest = explained
        width = rest[0] if rest else 1
        if pos is not None:
            line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
    elif isinstance(err, UnexpectedCharacters):
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
        label = _trailing_label(before) if tok.type in ("$END", "_NL") else None
        if label and {"NAME", "OP"} & set(err.expected):
            msg = f"the label `{label[0]}` labels nothing: write it directly before its block, " \
                  f"as in `{label[0]}cn_k3_c8`"
            pos = label[1]
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
    return NetcError(msg, Span(file, line, max(col, 1), line, max(col, 1) + width))


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
    op_tok = body.children[0]   # `code_arg_arg:ref:ref...`, one token; empty refs (`cnct::a#::`) are ignored
    head, *parts = str(op_tok).split(":")
    code, *arg_texts = head.split("_")
    args, arg_off = [], len(code) + 1
    for a in arg_texts:   # op arguments, as a layer's (the registry reads `up_x2` as the op `up_x2`)
        args.append(ast.ArgToken(a, _part_span(file, op_tok, base, arg_off, max(len(a), 1))))
        arg_off += len(a) + 1
    refs, offset = [], len(head) + 1
    for part in parts:
        if part:
            ref_span = _part_span(file, op_tok, base, offset, len(part))
            if not _HASHNAME.fullmatch(part):
                hint = f": write `{part}#`" if _HASHNAME.fullmatch(part + "#") else f" (like `c3#`), found `{part}`"
                raise NetcError(f"an argument of `{code}:` is a name ending in `#`{hint}", ref_span)
            refs.append(ast.Ref(part, ref_span))
        offset += len(part) + 1
    return ast.Block(text, span, "op", code, _part_span(file, op_tok, base, 0, len(code)), label, label_span,
                     args=tuple(args), refs=tuple(refs))


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
        spans, offset = [], 0
        for part in str(shape_tok).split("x"):
            spans.append(_part_span(file, shape_tok, base, offset, len(part)))
            offset += len(part) + 1
        d.size_spans = tuple(spans)
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


_TEMPLATE_HEADER = re.compile(r"template[ \t]+(\S*?):?[ \t]*(//.*)?$")
_TEMPLATE_NAME = re.compile(r"([A-Za-z][A-Za-z0-9]*)((?:_[A-Za-z]+)*)")


_INLINE_WS = " \t\f\r"


def split_templates(text: str, file: str, breaks: str = "\n") -> tuple[str, list[ast.Template]]:
    """Cut `template NAME_p_q:` definitions (header + indented body) out of the text, keeping line numbers
    (their lines become blank); the body lines stay text until a use fills their placeholders. ``breaks``
    (a regular expression) is what ends a line where the text comes from: `\n` in a `.net` file, YAML's line
    breaks inside a YAML block string."""
    lines = re.split(breaks, text)
    templates: list[ast.Template] = []
    current: ast.Template | None = None
    for i, line in enumerate(lines):
        if current is not None and (line[:1] in (" ", "\t") or not line.strip(_INLINE_WS)):
            body = line.strip(_INLINE_WS)   # as the grammar's WS_INLINE: other spaces (U+00A0...) are text
            if body:
                current.lines.append(ast.TemplateLine(body, i + 1, len(line) - len(line.lstrip(_INLINE_WS)) + 1))
                lines[i] = ""
            continue
        current = None
        m = _TEMPLATE_HEADER.fullmatch(line.rstrip("\r"))
        if not m:
            continue
        head = m.group(1)
        n = _TEMPLATE_NAME.fullmatch(head)
        if not line.rstrip("\r").split("//")[0].rstrip().endswith(":") or n is None:
            raise NetcError("a template header is `template NAME_p_q:` (a name, its parameters after `_`, a colon), "
                            f"found `{line.strip()}`", Span(file, i + 1, 1, i + 1, len(line) + 1))
        params = tuple(p for p in n.group(2).split("_") if p)
        col = line.index(head) + 1
        current = ast.Template(n.group(1), params, Span(file, i + 1, col, i + 1, col + len(n.group(1))),
                               header=line.split("//")[0].strip())
        templates.append(current)
        lines[i] = ""
    return "\n".join(lines), templates


def parse_text(text: str, file: str) -> ast.Spec:
    """Parse a whole `.net` file; the first mistake raises."""
    text, templates = split_templates(text, file)
    _LOCAL.comments = comments = []
    try:
        tree = parser().parse(text if text.endswith("\n") else text + "\n", start="start")
    except UnexpectedInput as err:
        raise _syntax_error(err, file, text, None) from None
    finally:
        _LOCAL.comments = None
    spec = ast.Spec(file=file, source_format="net", templates=templates)
    spec.comments = {t.line: (t.column, str(t)) for t in comments}
    stack: ast.Stack | None = None
    for st in tree.children:
        stack = _statement(spec, st, stack, file, text)
    return spec


def _statement(spec: ast.Spec, st: Tree, stack: ast.Stack | None, file: str, text: str) -> ast.Stack | None:
    """Add one parsed statement to ``spec``; returns the stack that block lines below it belong to."""
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
        word, num, rounding = (st.children + [None])[:3]
        set_scale(spec, str(word), str(num), _tok_span(file, num))
        if rounding is not None:
            set_rounding(spec, str(word), str(rounding), _tok_span(file, rounding))
    elif kind == "block_line":
        blocks = [_block(b, file, text, None) for b in st.children]
        if stack is None:
            raise NetcError("block outside any stack; start a stack with a header like `backbone#:`",
                            blocks[0].span)
        stack.lines.append(blocks)
    return stack
