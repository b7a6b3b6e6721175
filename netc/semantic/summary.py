"""`netc summary`: per-block shapes, parameters and MACs, as a table or JSON-ready data."""
from __future__ import annotations

from typing import Any

from netc.ir.builder import fmt_shape
from netc.semantic.analyze import BlockInfo, CheckedModel


def _shape(shape) -> list | None:
    return None if shape is None else list(shape)


def _names(b: BlockInfo) -> str:
    """The row's name: a module's own name (modular form), else its checkpoint names: one, a range of repeat
    copies, or none (a `select:` inside a stack)."""
    if b.module is not None:
        return b.module
    if not b.names:
        return ""
    return b.names[0] if len(b.names) == 1 else f"{b.names[0]}..{b.names[-1]}"


def deployed(model: CheckedModel) -> CheckedModel:
    """The same model after the deploy-time rewrites (BNs folded, parallel branches fused): each block's
    parameters and MACs recounted from the nodes its rewritten graph keeps. Imports numpy, not TensorFlow."""
    import copy

    from netc.ir.passes import DEPLOY, run_passes
    from netc.ir.weights import init_weights
    graph, _ = run_passes(model.graph, init_weights(model.graph), DEPLOY)
    per_block: dict[tuple[str, str], tuple[int, int]] = {}
    for n in graph.nodes:
        key = (n.origin.stack, n.origin.block)
        p, m = per_block.get(key, (0, 0))
        per_block[key] = (p + sum(w.size for w in n.weights.values()), m + n.macs())
    out = copy.copy(model)
    out.graph = graph
    out.stacks = []
    for st in model.stacks:
        st2 = copy.copy(st)
        st2.blocks = []
        for b in st.blocks:
            b2 = copy.copy(b)
            b2.params = sum(per_block.get((st.name.rstrip("#"), name), (0, 0))[0] for name in b.names)
            b2.macs = sum(per_block.get((st.name.rstrip("#"), name), (0, 0))[1] for name in b.names)
            st2.blocks.append(b2)
        out.stacks.append(st2)
    return out


def _dynamic_blocks(model: CheckedModel) -> set[tuple[str, str]]:
    """(stack, block name) of the blocks whose MACs depend on an unknown (`?`) spatial size: a node with a
    kernel whose output's height or width is unknown."""
    return {(n.origin.stack, n.origin.block) for n in model.graph.nodes
            if "kernel" in n.weights and None in tuple(n.out.shape[1:3])}


def summary_data(model: CheckedModel) -> dict[str, Any]:
    """Everything the table shows, as plain data (``--json``); MACs are None where they depend on unknown
    sizes (a partial count would read as a real one)."""
    weights = model.graph.weights
    trainable = sum(w.size for w in weights if w.trainable)
    dynamic = _dynamic_blocks(model)

    def macs(st, blocks) -> int | None:
        stack = st.name[:-1] if st.name.endswith("#") else st.name
        if any((stack, name) in dynamic for b in blocks for name in b.names):
            return None
        return sum(b.macs for b in blocks)

    return {
        "file": model.spec.file,
        "inputs": [{"name": i.text, "line": i.span.line if i.span else None, "shape": _shape(i.shape)}
                   for i in model.inputs],
        "stacks": [{
            "name": st.name, "shape": _shape(st.shape), "params": st.params, "macs": macs(st, st.blocks),
            "blocks": [{"block": b.text, "names": b.names, "module": b.module,
                        "line": b.span.line if b.span else None,
                        "col": b.span.col if b.span else None, "copies": b.copies, "shape": _shape(b.shape),
                        "params": b.params, "macs": macs(st, [b])} for b in st.blocks],
        } for st in model.stacks],
        "outputs": [{"name": name, "shape": _shape(v.shape)} for name, v in model.graph.outputs],
        "params": model.params, "trainable_params": trainable, "non_trainable_params": model.params - trainable,
        "macs": None if dynamic else model.macs,
    }


def _si(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def summary_table(model: CheckedModel) -> str:
    """A readable table: one row per block string, subtotals per stack, totals, inputs and outputs."""
    d = summary_data(model)
    rows: list[tuple[str, ...]] = [("stack", "name", "block", "output", "params", "MACs")]
    for st, sd in zip(model.stacks, d["stacks"]):
        for i, (b, bd) in enumerate(zip(st.blocks, sd["blocks"])):
            rows.append((st.name if i == 0 else "", _names(b), b.text,
                         fmt_shape(b.shape) if b.shape else "-", f"{b.params:,}", _si(bd["macs"])))
        rows.append(("", "", f"= {st.name} total", fmt_shape(st.shape) if st.shape else "-",
                     f"{st.params:,}", _si(sd["macs"])))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    right = {4, 5}

    def fmt_row(r):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()

    lines = [f"{d['file']}"]
    lines.append("inputs:  " + ", ".join(f"{i.text} {fmt_shape(i.shape)}" for i in model.inputs))
    lines.append("")
    lines.append(fmt_row(rows[0]))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows[1:]:
        lines.append(fmt_row(r))
        if r[2].startswith("= "):
            lines.append("")
    lines.append("outputs: " + ", ".join(f"{o['name']}# {fmt_shape(tuple(o['shape']))}" for o in d["outputs"]))
    lines.append(f"params:  {d['params']:,} (trainable {d['trainable_params']:,}, "
                 f"non-trainable {d['non_trainable_params']:,})")
    if d["macs"] is None:
        lines.append("MACs:    ? per image (they depend on the input size, declared `?`)")
    else:
        lines.append(f"MACs:    {d['macs']:,} ({_si(d['macs'])}) per image")
    return "\n".join(lines) + "\n"
