"""Print a spec in canonical `.net` or YAML form. Round trips keep every block string verbatim,
the grouping of blocks into lines, the input stack's name, and (`.net` to `.net`) the comments."""
from __future__ import annotations

import json
import re

from netc import ast
from netc.diagnostics import NetcError
from netc.semantic.multipliers import SCALE_WORDS

INDENT = "    "
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_#./]*")



def plain_number(x: float) -> str:
    """The shortest decimal that reads back as ``x``, never in exponent form (`1e-05` is no `.net` number)."""
    import decimal
    text = format(decimal.Decimal(repr(float(x))), "f")
    return text[:-2] if text.endswith(".0") else text

def _size(d: ast.InputDecl) -> str:
    if d.channels is None:
        return ""
    h, w = d.size or (None, None)
    return f" {'?' if h is None else h}x{'?' if w is None else w}x{d.channels}"


def to_net(spec: ast.Spec) -> str:
    """Canonical `.net` text: inputs, stacks (one blank line between), outputs; comments kept by line."""
    rows: list[tuple[int, str, bool]] = []   # (source line, text, blank line before)

    def line_of(span) -> int:
        return span.line if spec.source_format == "net" and span is not None else 0

    if spec.input_stack != "inputs#":
        rows.append((line_of(spec.input_stack_span), f"inputs {spec.input_stack}", False))
    for word in ("width", "depth"):
        if getattr(spec, word) is not None:
            said = getattr(spec, SCALE_WORDS[word][2])
            rounding = f" {said}" if said else ""
            rows.append((line_of(getattr(spec, f"{word}_span")),
                         f"{word} {plain_number(getattr(spec, word))}{rounding}", False))
    for group in spec.input_lines:
        if group:   # an empty YAML group has no `.net` form
            text = "  ".join(f"{d.text}{_size(d)}" for d in group)
            rows.append((line_of(group[0].span), f"input {text}", False))
    for t in spec.templates:
        rows.append((line_of(t.span), t.header, True))
        for tl in t.lines:
            rows.append((tl.line if spec.source_format == "net" else 0, INDENT + tl.text, False))
    for st in spec.stacks:
        if st.name == spec.input_stack:
            continue
        rows.append((line_of(st.span), f"{st.name}:", True))
        for group in st.lines:
            if group:
                rows.append((line_of(group[0].span), INDENT + "  ".join(b.text for b in group), False))
    if spec.outputs:
        rows.append((line_of(spec.outputs_span), "output " + " ".join(r.name for r in spec.outputs), True))

    comments = dict(spec.comments) if spec.source_format == "net" else {}
    out: list[str] = []
    stmt_lines = {r[0] for r in rows}
    pending = sorted(ln for ln in comments if ln not in stmt_lines)
    for src, text, blank in rows:
        before = [ln for ln in pending if ln < src]
        pending = [ln for ln in pending if ln >= src]
        if (blank or before and not text.startswith(INDENT)) and out and out[-1] != "":
            out.append("")
        indent = INDENT if text.startswith(INDENT) else ""
        out += [indent + comments[ln][1] for ln in before]
        if src in comments:
            text = f"{text}  {comments[src][1]}"
        out.append(text)
    if pending:
        out += [comments[ln][1] for ln in pending]
    return "\n".join(out) + "\n"


def _q(s: str) -> str:
    return s if _PLAIN.fullmatch(s) else json.dumps(s)


def _yaml_templates(templates: list[ast.Template]) -> list[str]:
    """`templates: |`, then each template as in `.net` (header, indented lines), a blank line between."""
    if not templates:
        return []
    out = ["templates: |"]
    for i, t in enumerate(templates):
        if i:
            out.append("")
        out.append("  " + t.header)
        out += ["  " + INDENT + tl.text for tl in t.lines]
    return out


def to_yaml(spec: ast.Spec) -> str:
    """The YAML contract: model_def / model_ins / model_outs / in_chs / input_size."""
    for d in spec.inputs:
        if d.channels is None:
            raise NetcError(f"input `{d.name}` has no size; the YAML form needs its channels (`in_chs`)", d.span)
    sizes = {tuple(d.size or (None, None)) for d in spec.inputs}
    if len(sizes) > 1:
        raise NetcError("the YAML form gives every input the same size (`input_size`), but these inputs differ: "
                        + ", ".join(f"{d.name}{_size(d)}" for d in spec.inputs), spec.inputs[1].span)
    out = _yaml_templates(spec.templates) + ["model_def:"]
    groups = ", ".join("[" + ", ".join(_q(d.text) for d in g) + "]" for g in spec.input_lines)
    out.append(f"  {_q(spec.input_stack)}: [{groups}]")
    for st in spec.stacks:
        out.append(f"  {_q(st.name)}:")
        for g in st.lines:
            out.append("    - [" + ", ".join(_q(b.text) for b in g) + "]")
    out.append(f"model_ins: {_q(spec.input_stack)}")
    for word in ("width", "depth"):
        if getattr(spec, word) is not None:
            out.append(f"{word}_multiplier: {plain_number(getattr(spec, word))}")
            said = getattr(spec, SCALE_WORDS[word][2])
            if said:
                out.append(f"{SCALE_WORDS[word][2]}: {said}")   # the YAML key is the attribute's name
    out.append("model_outs: [" + ", ".join(_q(r.name) for r in spec.outputs) + "]")
    out.append("in_chs: [" + ", ".join(str(d.channels) for d in spec.inputs) + "]")
    size = next(iter(sizes), (None, None))
    if size == (None, None):
        out.append("input_size: null")
    else:
        out.append(f"input_size: [{'null' if size[0] is None else size[0]}, {'null' if size[1] is None else size[1]}]")
    return "\n".join(out) + "\n"
