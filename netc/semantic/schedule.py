"""Keras EfficientNet's drop-connect schedule: `dc0.2` on a block gives its copy b (counted over the model's
blocks written with `dc`, from 0, in lowering order, after the `depth` multiplier) the per-sample dropout rate
0.2 * b / B, B the number of such copies (Keras: ``drop_connect_rate * b / blocks`` over all blocks)."""
from __future__ import annotations

from netc import ast
from netc.diagnostics import NetcError
from netc.semantic.multipliers import scaled_args


class DropConnect:
    """Counts the copies written with `dc` before lowering; then hands each copy its rate as `dr`."""

    def __init__(self, spec: ast.Spec, limits, registry):
        self.total, self.seen = 0, 0
        for st in spec.stacks:
            if st.name == spec.input_stack:
                continue
            for blk in st.blocks:
                btype = registry.blocks.get(blk.code) if blk.kind == "layer" else None
                if btype is None or "dc" not in btype.params:
                    continue
                try:
                    args = scaled_args(spec, btype, registry.decode_args(blk, btype, limits)[0])
                except NetcError:   # reported when the block is lowered
                    continue
                if args.written("dc"):
                    self.total += args.r if "r" in btype.params else 1

    def copy_args(self, btype, args):
        """``args`` of the next copy of a block: with `dc`, `dr` set to its place in the schedule."""
        if "dc" not in btype.params or not args.written("dc"):
            return args
        if args.written("dr"):
            raise NetcError("give `dr` (one rate) or `dc` (Keras' drop-connect schedule), not both", args.span("dc"))
        rate = args.dc * self.seen / self.total
        self.seen += 1
        return args.replace(dr=rate)
