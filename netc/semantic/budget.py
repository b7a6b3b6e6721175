"""The node and parameter limits, checked before the work rather than after it.

A spec of a few kilobytes can ask for millions of IR nodes (`ir_r1000_...` on 200 lines). Lowering them to
find out would take the time and memory the limits exist to bound, so the analyzer asks this budget first:

- before lowering a layer block: the nodes of the graph so far, plus a lower bound for this block and for
  every layer block not yet lowered (each repeat copy makes at least one node; once a block string's second
  copy has been lowered, its measured count is used for every further copy of the same block string);
- after lowering a repeated block's second copy: the same with its measured nodes and parameters per copy
  (copies 2..r are identical: same arguments, stride 1, channels in = out), before the other copies exist.
"""
from __future__ import annotations

from netc import ast
from netc.diagnostics import NetcError
from netc.registry import Limits, Registry
from netc.semantic.multipliers import scaled_repeats


def _body(blk: ast.Block) -> str:
    """The block string without its label: copies of equal bodies have equal per-copy node counts."""
    return blk.text[len(blk.label or ""):]


def _repeats(blk: ast.Block, limits: Limits, registry: Registry, depth: float | None = None) -> int:
    """The block's `r` argument as written, scaled by the spec's `depth` as lowering will scale it (1 when absent
    or invalid: its own error reports that); the block type is looked up in the compilation's registry, so a
    plugin block's repeats count too."""
    btype = registry.blocks.get(blk.code)
    if btype is None or "r" not in btype.params:
        return 1
    for tok in blk.args:
        text = tok.text
        if text.startswith("r") and text[1:].isascii() and text[1:].isdigit() and len(text) < 12:
            value = int(text[1:])
            if not 1 <= value <= limits.repeats:
                return 1
            return scaled_repeats(value, depth) if depth is not None and depth != 1.0 else value
    return 1


class WorkBudget:
    """Lower bounds on the nodes still to come, per layer block not yet lowered."""

    def __init__(self, spec: ast.Spec, limits: Limits, registry: Registry):
        self.limits = limits
        self.pending: dict[int, tuple[str, int]] = {}   # id(block) -> (body, extra copies r - 1)
        self.future: dict[str, int] = {}                 # body -> extra copies of blocks not yet lowered
        self.per_copy: dict[str, int] = {}               # body -> measured nodes of a copy after the first
        self.future_nodes = 0                            # lower bound: every future copy (first ones included)
        for st in spec.stacks:
            if st.name == spec.input_stack:
                continue
            for blk in st.blocks:
                if blk.kind != "layer":
                    continue
                extra = _repeats(blk, limits, registry, spec.depth) - 1
                body = _body(blk)
                self.pending[id(blk)] = (body, extra)
                self.future[body] = self.future.get(body, 0) + extra
                self.future_nodes += 1 + extra

    def retire(self, blk: ast.Block) -> None:
        """``blk`` will not be (or is about to be) lowered: its copies leave the future bound."""
        entry = self.pending.pop(id(blk), None)
        if entry is None:
            return
        body, extra = entry
        self.future[body] -= extra
        self.future_nodes -= 1 + extra * self.per_copy.get(body, 1)

    def before(self, blk: ast.Block, repeats: int, nodes_now: int) -> None:
        """Refuse ``blk`` (about to be lowered ``repeats`` times) when the graph would certainly pass the limit."""
        self.retire(blk)
        body = _body(blk)
        own = 1 + (repeats - 1) * self.per_copy.get(body, 1)
        self._check_nodes(blk, nodes_now + own + self.future_nodes)

    def after_second_copy(self, blk: ast.Block, repeats: int, copy_nodes: int, copy_params: int,
                          nodes_now: int, params_now: int) -> None:
        """The second of ``repeats`` copies made ``copy_nodes`` nodes and ``copy_params`` parameters: refuse
        before the remaining copies exist when they would pass a limit."""
        body = _body(blk)
        if body not in self.per_copy:
            self.per_copy[body] = copy_nodes
            self.future_nodes += self.future.get(body, 0) * (copy_nodes - 1)
        rest = repeats - 2
        self._check_nodes(blk, nodes_now + rest * copy_nodes + self.future_nodes)
        estimate = params_now + rest * copy_params
        if estimate > self.limits.params:
            raise NetcError(f"the model exceeds the limit of {self.limits.params:,} parameters at this block "
                            f"(its {repeats} copies bring the model to {estimate:,}); raise it with "
                            f"`--limit params=N`", blk.span)

    def _check_nodes(self, blk: ast.Block, estimate: int) -> None:
        if estimate > self.limits.nodes:
            raise NetcError(f"the model exceeds the limit of {self.limits.nodes:,} IR nodes: this block's copies "
                            f"and those of the blocks after it bring it to at least {estimate:,}; raise it with "
                            f"`--limit nodes=N`", blk.span)
