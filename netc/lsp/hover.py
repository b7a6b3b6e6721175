"""Hover: a block's meaning from the registry (every argument with its value and default), its input and
output shapes, parameters and MACs; a name's or a template's definition."""
from __future__ import annotations

from netc import ast
from netc.ir.builder import fmt_shape
from netc.lsp.analysis import Analysis
from netc.lsp.lookup import Definition, Hit, Index


def _shape(s) -> str:
    return "?" if s is None else fmt_shape(s)


def _fact(an: Analysis, blk: ast.Block):
    if an.partial is None:
        return None
    return next((f for f in an.partial.facts if f.block is blk or f.block.span == blk.span), None)


def _value(v) -> str:
    if v is None:
        return "none"
    if hasattr(v, "code") and hasattr(v, "doc"):   # an activation
        return f"{v.code} ({v.doc})"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _arguments(an: Analysis, blk: ast.Block, entry) -> list[str]:
    """One row per parameter of the block type: code, meaning, value as written and decoded, default."""
    from netc.registry import Limits
    reg = an.registry
    written: dict[str, str] = {}
    values: dict[str, str] = {}
    for tok in blk.args:   # each argument on its own, so one bad argument leaves the others decoded
        try:
            ac, raw = reg.split_arg(tok)
            written[ac.code] = tok.text
            values[ac.code] = _value(ac.kind.decode(ac, raw, tok.span, tok, Limits(), reg))
        except Exception:  # noqa: BLE001 - its error is a diagnostic already
            if tok.text:
                values.setdefault(max((c for c in reg.arg_codes if tok.text.startswith(c)), key=len,
                                      default=tok.text), "invalid")
    rows = ["| arg | meaning | value | default |", "|---|---|---|---|"]
    for code, p in entry.params.items():
        ac = reg.arg_codes.get(code)
        doc = ac.doc if ac else ""
        kind = ac.kind.name if ac else ""
        value = values.get(code, "—")
        if code in written:
            value = f"`{written[code]}` = {value}"
        default = "required" if p.required else _value(p.default)
        rows.append(f"| `{code}` | {doc} ({kind}) | {value} | {default} |")
    return rows


def _block(an: Analysis, blk: ast.Block, ix: Index) -> str:
    reg = an.registry
    out = []
    if blk.code in ix.templates:
        t = ix.templates[blk.code]
        out += [f"**template `{t.name}`** (line {t.span.line})", "```", t.header,
                *("    " + ln.text for ln in t.lines), "```"]
    elif blk.kind == "layer" and blk.code in reg.blocks:
        entry = reg.blocks[blk.code]
        out += [f"**`{blk.code}`** block: {entry.doc}", ""]
        out += _arguments(an, blk, entry) if entry.params else ["(no arguments)"]
    elif blk.kind == "op" and blk.code in reg.ops:
        op = reg.ops[blk.code]
        most = "any number of" if op.max_inputs is None else str(op.max_inputs)
        out += [f"**`{blk.code}:`** op: {op.doc} ({op.min_inputs} to {most} tensors)"]
        if op.params:
            out += [""] + _arguments(an, blk, op)
    elif blk.kind == "module" and blk.code in reg.modules:
        mt = reg.modules[blk.code]
        out += [f"**module `{mt.name}`**: {mt.doc}", ""]
        out += [f"- `{k}` ({kw.type}): {kw.doc}" + ("" if kw.required else f", default {kw.default!r}")
                for k, kw in mt.kwargs.items()]
    else:
        out += [f"`{blk.text}`"]
    fact = _fact(an, blk)
    out.append("")
    if blk.label is not None:
        out.append(f"label `{blk.label}`")
    if fact is not None:
        ins = ", ".join(_shape(s) for s in fact.inputs) or "?"
        out.append(f"- input: {ins}")
        out.append(f"- output: {_shape(fact.shape)}" + (f" ({fact.copies} copies)" if fact.copies > 1 else ""))
        if fact.shape is not None:
            out.append(f"- parameters: {fact.params:,}")
            out.append(f"- MACs: {fact.macs:,}")
        if fact.expanded:
            out.append(f"- expands to {fact.expanded} blocks")
    return "\n".join(out)


def _definition(an: Analysis, d: Definition) -> str:
    shape = an.partial.names.get(d.name) if an.partial is not None else None
    if d.kind == "template":
        t = d.node
        return "\n".join([f"**template `{t.name}`** (line {t.span.line}), parameters: "
                          f"{', '.join(t.params) or 'none'}", "```", t.header,
                          *("    " + ln.text for ln in t.lines), "```"])
    if d.kind == "input":
        return f"**input `{d.name}`** (line {d.span.line}): `{d.node.text}` {_shape(shape)}"
    if d.kind == "stack":
        st = d.node
        return f"**stack `{d.name}`** (line {d.span.line}, {len(st.blocks)} blocks): output {_shape(shape)}"
    blk = d.node
    return f"**label `{d.name}`** (line {d.span.line}): `{blk.text}` → {_shape(shape)}"


def hover(an: Analysis, ix: Index, hit: Hit) -> str | None:
    if hit.name is not None:
        d = ix.defs.get(hit.name)
        if d is None:
            return f"`{hit.name}` is not defined"
        return _definition(an, d)
    if hit.block is not None:
        return _block(an, hit.block, ix)
    return None
