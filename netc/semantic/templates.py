"""Template expansion: an AST pass that replaces each use of a template by its filled-in body.

A template (`template sp_l_t:` + indented block lines) is used like a block or an op, its parameters
written as arguments: `b4#sp_l4_tb:b1#:b3#`. In the body, `{l}` is the value given for `l`, `{1}`, `{2}`..
the use's references, `{refs}` all of them joined by `:`, and `{0}` a name unique to the use (its label, or the
template's name and a count; `_2`, `_3`.. added per copy): labels written `{0}a#` name tensors inside the body,
so a branching unit is a template. `r3` on a template without a parameter `r` expands the body three times in
sequence (the spec's `depth` multiplier scales that count as a block's `r`). The use's label names the body's
last block.
Errors inside an expansion point at the template line, with a note naming the use site; their columns are
the template's as written (a place inside a filled-in value points at the whole `{placeholder}`).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from netc import ast
from netc.diagnostics import NetcError, Span, did_you_mean

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9]*)\}")
_BLOCK = re.compile(r"[^ \t\f]+")   # the grammar's WS_INLINE separates blocks; any other character is a block's
MAX_DEPTH = 16


@dataclass(frozen=True)
class FilledSpan(Span):
    """Where a block string filled in from a template line is written: character i of the filled text came
    from the template text at columns ``col + starts[i]`` up to ``col + ends[i]`` (a filled-in value spans its
    whole `{placeholder}`). Shifting maps positions in the filled text back to the template's columns."""

    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()

    def shifted(self, offset: int, length: int | None = None) -> Span:
        n = len(self.starts)
        if offset >= n:   # just past the text (an error at its end)
            col = self.col + (self.ends[-1] if n else offset)
            return Span(self.file, self.line, col, self.line, None if length is None else col + max(length, 1))
        start = self.starts[offset]
        stop = n if length is None else min(max(offset + length, offset + 1), n)
        end = self.ends[stop - 1] if length is None or length > 0 else start
        return FilledSpan(self.file, self.line, self.col + start, self.line, self.col + end,
                          tuple(x - start for x in self.starts[offset:stop]),
                          tuple(x - start for x in self.ends[offset:stop]))


class _Budget:
    """How many blocks the expansions may still produce: every block becomes at least one IR node, so the node
    limit bounds the expansion, and a template used ten times inside one used ten times... is refused as soon
    as it passes that bound, before the work (not after millions of blocks exist)."""

    def __init__(self, limit: int, depth: float | None = None):
        self.left, self.depth = limit, depth
        self.parsed: dict[tuple[str, Span], ast.Block] = {}   # a template line filled the same way parses once
        self.uses: dict[str, int] = {}   # uses of each template so far: `{0}` of an unlabelled use

    def take(self, blk: ast.Block, use: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise NetcError("the template expansions produce more blocks than the node limit allows; raise it with "
                            "`--limit nodes=N` if the model really is that large", blk.span, notes=[use])


def expand(spec: ast.Spec, reserved: set[str] = frozenset(), max_blocks: int = 50_000) -> ast.Spec:
    """Return ``spec`` with every template use expanded (``spec`` itself is left as written, for `fmt`).
    ``reserved`` holds the registered block and op codes, which a template may not shadow; at most
    ``max_blocks`` blocks come out of expansions."""
    if not spec.templates:
        return spec
    budget = _Budget(max_blocks, spec.depth)
    table: dict[str, ast.Template] = {}
    for t in spec.templates:
        if t.name in table:
            first = table[t.name].span
            raise NetcError(f"template `{t.name}` is defined twice (first at line {first.line})", t.span)
        if t.name in reserved:
            raise NetcError(f"template `{t.name}` has the name of a built-in block or op; choose another name", t.span)
        if len(set(t.params)) != len(t.params):
            raise NetcError(f"template `{t.name}` lists a parameter twice", t.span)
        table[t.name] = t
    stacks = []
    for st in spec.stacks:
        lines = [[b for blk in line for b in _expand_block(blk, table, 0, budget)] for line in st.lines]
        stacks.append(dataclasses.replace(st, lines=lines))
    return dataclasses.replace(spec, stacks=stacks)


def _expand_block(blk: ast.Block, table: dict[str, ast.Template], depth: int, budget: _Budget) -> list[ast.Block]:
    t = table.get(blk.code)
    if t is None:
        return [blk]
    if depth >= MAX_DEPTH:
        raise NetcError(f"template `{t.name}` expands more than {MAX_DEPTH} levels deep (does it use itself?)",
                        blk.code_span)
    values, repeats = _bind(blk, t)
    if repeats is not None and budget.depth is not None:
        from netc.semantic.multipliers import scaled_repeats
        repeats = scaled_repeats(repeats, budget.depth)
    repeats = repeats or 1
    if blk.refs and not any(re.search(r"\{(\d+|refs)\}", tl.text.split("//")[0]) for tl in t.lines):
        raise NetcError(f"template `{t.name}` reads no reference (its body has no `{{1}}` or `{{refs}}`), but this "
                        f"use gives {len(blk.refs)}", blk.refs[0].span)
    use = f"in the expansion of template `{t.name}` used at {blk.span}"
    budget.uses[t.name] = budget.uses.get(t.name, 0) + 1
    stem = blk.label[:-1] if blk.label is not None else f"{t.name}{budget.uses[t.name]}"
    out: list[ast.Block] = []
    for copy in range(1, repeats + 1):
        values["0"] = stem if repeats == 1 else f"{stem}_{copy}"   # a name unique to this use (and copy)
        made = len(out)
        for tl in t.lines:
            body = tl.text.split("//")[0].rstrip()
            if not body:
                continue
            for m in _BLOCK.finditer(body):   # blocks are separated as on a stack line: by spaces, tabs, form feeds
                out += _expand_string(m.group(0), Span(blk.span.file, tl.line, tl.col + m.start()), values, t,
                                      use, table, depth, budget)
        if len(out) == made:
            raise NetcError(f"template `{t.name}` has no blocks", t.span)
    if blk.label is not None:
        last = out[-1]
        if last.label is not None:
            raise NetcError(f"the use of `{t.name}` is labelled, but the template's last block already has the "
                            f"label `{last.label}`", blk.label_span)
        out[-1] = dataclasses.replace(last, label=blk.label, label_span=blk.label_span, text=blk.label + last.text)
    return out


def _bind(blk: ast.Block, t: ast.Template) -> tuple[dict[str, str], int | None]:
    """The use's parameter values (and references) and its repeat count, None when not written: `r3` on a template
    without a parameter `r` expands its body three times in sequence."""
    values: dict[str, str] = {}
    repeats = None
    for tok in blk.args:
        code = max((p for p in t.params if tok.text.startswith(p)), key=len, default=None)
        if code is None and "r" not in t.params and re.fullmatch(r"r\d+", tok.text):
            if repeats is not None:
                raise NetcError(f"repeats given twice to template `{t.name}`", tok.span)
            repeats = int(tok.text[1:])
            if not 1 <= repeats <= 1000:
                raise NetcError(f"`{tok.text}`: a template's repeats must be 1 to 1000", tok.span)
            continue
        if code is None:
            params = ", ".join(t.params) or "none"
            raise NetcError(f"template `{t.name}` has no parameter for `{tok.text}`"
                            f"{did_you_mean(tok.text.rstrip('0123456789.'), t.params)}", tok.span,
                            notes=[f"`{t.name}` takes: {params} (defined at {t.span})"])
        if code in values:
            raise NetcError(f"parameter `{code}` of template `{t.name}` given twice", tok.span)
        if len(tok.text) == len(code):
            raise NetcError(f"parameter `{code}` of template `{t.name}` needs a value, e.g. `{code}8`", tok.span,
                            notes=[f"`{t.name}` is defined at {t.span}: {t.header}"])
        values[code] = tok.text[len(code):]
    missing = [p for p in t.params if p not in values]
    if missing:
        raise NetcError(f"template `{t.name}` needs parameter{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(f'`{p}`' for p in missing)}", blk.code_span,
                        notes=[f"`{t.name}` is defined at {t.span}: {t.header}"])
    for i, r in enumerate(blk.refs, 1):
        values[str(i)] = r.name
    values["refs"] = ":".join(r.name for r in blk.refs)
    return values, repeats


def _expand_string(text: str, at: Span, values: dict[str, str], t: ast.Template, use: str,
                   table: dict[str, ast.Template], depth: int, budget: _Budget) -> list[ast.Block]:
    from netc.frontends.text import parse_block_string

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            known = [p for p in values if p != "refs" and not p.isdigit()] + ["0"]
            col = at.col + m.start()
            raise NetcError(f"`{{{m.group(1)}}}` in template `{t.name}` is no parameter"
                            f"{did_you_mean(m.group(1), known)}" if not m.group(1).isdigit() else
                            f"`{{{m.group(1)}}}` in template `{t.name}`: the use gives only "
                            f"{sum(k.isdigit() for k in values) - 1} references",
                            Span(at.file, at.line, col, at.line, col + len(m.group(0))), notes=[use])
        return values[m.group(1)]

    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        value = fill(m)
        parts += [text[pos:m.start()], value]
        starts += [*range(pos, m.start()), *[m.start()] * len(value)]
        ends += [*range(pos + 1, m.start() + 1), *[m.end()] * len(value)]
        pos = m.end()
    parts.append(text[pos:])
    starts += range(pos, len(text))
    ends += range(pos + 1, len(text) + 1)
    filled = "".join(parts)
    base = FilledSpan(at.file, at.line, at.col, at.line, at.col + len(text), tuple(starts), tuple(ends))
    blk = budget.parsed.get((filled, base))
    if blk is None:
        try:
            blk = budget.parsed[(filled, base)] = parse_block_string(filled, base)
        except NetcError as err:
            for d in err.diagnostics:
                d.notes.append(f"{use} (the line reads `{filled}` there)")
            raise
    blk = dataclasses.replace(blk, via=use, text=filled)
    if blk.code in table:
        return _expand_block(blk, table, depth + 1, budget)
    budget.take(blk, use)
    return [blk]
