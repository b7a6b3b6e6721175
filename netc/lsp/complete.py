"""Completion (block types, argument codes with their value kinds, activations, ops, names defined above,
template names, statement keywords) and signature help for templates' parameters."""
from __future__ import annotations

import re

from lsprotocol import types

from netc.lsp.analysis import Analysis
from netc.lsp.convert import utf16
from netc.lsp.lookup import Index

_TOKEN = re.compile(r"[^\s\"'\[\],{}]*$")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*#")
KEYWORDS = ("input", "inputs", "output", "width", "depth", "template")
K = types.CompletionItemKind


def _context(an: Analysis, line: int, col: int) -> tuple[str, str, int]:
    """(text before the caret on its line, the token the caret ends, where that token starts)."""
    if not 0 < line <= len(an.lines):
        return "", "", col
    before = an.lines[line - 1][:col - 1]
    token = _TOKEN.search(before).group(0)
    return before, token, len(before) - len(token)


def _item(label: str, kind, detail: str, line: int, start: int, end: int, src: str, doc: str = "",
          text: str | None = None) -> types.CompletionItem:
    rng = types.Range(types.Position(line - 1, utf16(src, start)), types.Position(line - 1, utf16(src, end)))
    return types.CompletionItem(label, kind=kind, detail=detail, documentation=doc or None,
                                text_edit=types.TextEdit(rng, text if text is not None else label),
                                filter_text=text if text is not None else label)


def _names_above(ix: Index, line: int) -> list:
    return [d for d in ix.defs.values() if d.kind != "template" and d.span.line < line]


def _entry(an: Analysis, ix: Index, code: str):
    reg = an.registry
    if code in ix.templates:
        return "template", ix.templates[code]
    if code in reg.blocks:
        return "block", reg.blocks[code]
    op = reg.ops.get(code)
    if op is not None and op.params:
        return "op", op
    return None, None


def complete(an: Analysis, ix: Index, line: int, col: int) -> list[types.CompletionItem]:
    before, token, start = _context(an, line, col)
    src = an.lines[line - 1] if 0 < line <= len(an.lines) else ""
    end = len(before)
    reg = an.registry
    if an.form == "net" and "//" in before:
        return []
    words = before.split()
    first = words[0] if words else ""
    out: list[types.CompletionItem] = []

    def names(at: int, kinds=("input", "stack", "label")):
        for d in _names_above(ix, line):
            if d.kind in kinds:
                out.append(_item(d.name, K.Reference if d.kind == "label" else K.Module, d.kind, line, at, end,
                                 src))

    from netc.semantic.multipliers import SCALE_WORDS
    if first in SCALE_WORDS and token != first:   # `width 1.2 `: its rounding word; nothing else fits
        if len(words) - (token != "") == 2:
            choices, what, _ = SCALE_WORDS[first]
            for word, doc in choices.items():
                out.append(_item(word, K.EnumMember, what, line, start, end, src, doc))
        return out
    if first == "output" and token != first:
        names(start, ("stack", "label"))
        return out
    if first == "input" and token != first:
        if "#" in token:
            at = start + token.index("#") + 1
            for code, op in reg.input_ops.items():
                out.append(_item(code, K.Function, "input op", line, at, end, src, op.doc))
        return out
    if ":" in token:   # the references of an op, or `select:`
        names(start + token.rindex(":") + 1)
        return out
    m = _LABEL.match(token)
    body_at = start + (m.end() if m else 0)
    body = token[m.end():] if m else token
    if "_" in body:
        code = body.split("_")[0]
        kind, entry = _entry(an, ix, code)
        at = start + (m.end() if m else 0) + body.rindex("_") + 1
        given = {a for a in body.split("_")[1:-1]}
        if kind == "template":
            for p in entry.params:
                if not any(g.startswith(p) for g in given):
                    out.append(_item(p, K.TypeParameter, f"parameter of template {entry.name}", line, at, end, src,
                                     entry.header))
            return out
        if entry is None:
            return out
        for c in entry.params:
            ac = reg.arg_codes.get(c)
            if ac is None or any(g.startswith(c) for g in given):
                continue
            if ac.kind.name == "act":
                for a in reg.activations.values():
                    out.append(_item(c + a.code, K.EnumMember, f"activation: {a.doc}", line, at, end, src))
                continue
            p = entry.params[c]
            detail = f"{ac.kind.name}: {ac.doc}" + (" (required)" if p.required else f" (default {p.default})")
            out.append(_item(c, K.Property, detail, line, at, end, src, text=c))
        return out
    if not before[:start].strip() and m is None:   # the first word of a line: a keyword too
        for kw in KEYWORDS:
            out.append(_item(kw, K.Keyword, "statement", line, start, end, src))
    for code, bt in reg.blocks.items():
        out.append(_item(code, K.Class, "block type", line, body_at, end, src, bt.doc))
    for code, op in reg.ops.items():
        out.append(_item(code + ":", K.Operator, "op", line, body_at, end, src, op.doc))
    for name, t in ix.templates.items():
        out.append(_item(name, K.Snippet, f"template ({', '.join(t.params) or 'no parameters'})", line, body_at,
                         end, src, t.header))
    for code, mt in reg.modules.items():
        out.append(_item(code, K.Module, "module", line, body_at, end, src, mt.doc))
    return out


def signature(an: Analysis, ix: Index, line: int, col: int) -> types.SignatureHelp | None:
    """The template being written at the caret, its parameters, and which one the caret is on."""
    _, token, _ = _context(an, line, col)
    m = _LABEL.match(token)
    body = token[m.end():] if m else token
    code, *args = body.split(":")[0].split("_")
    t = ix.templates.get(code)
    if t is None or not t.params:
        return None
    current = args[-1] if args else ""
    active = next((i for i, p in enumerate(t.params) if current and current.startswith(p)), None)
    if active is None:
        given = {p for p in t.params for a in args if a.startswith(p)}
        active = next((i for i, p in enumerate(t.params) if p not in given), 0)
    label = f"{t.name}_" + "_".join(t.params)
    params, pos = [], len(t.name) + 1
    for p in t.params:
        params.append(types.ParameterInformation(label=(pos, pos + len(p)), documentation=f"`{{{p}}}` in the body"))
        pos += len(p) + 1
    doc = "\n".join([t.header, *("    " + ln.text for ln in t.lines)])
    return types.SignatureHelp([types.SignatureInformation(label, documentation=doc, parameters=params)],
                               active_signature=0, active_parameter=active)
