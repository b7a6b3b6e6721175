"""Keras EfficientNet's drop-connect schedule: `dc0.2` on a block gives its copy b (counted over the model's
blocks written with `dc`, from 0, in lowering order, after the `depth` multiplier) the per-sample dropout rate
0.2 * b / B, B the number of such copies (Keras: ``drop_connect_rate * b / blocks`` over all blocks). With
`depth X written` (Keras EfficientNetV2) B counts the copies as written, before `depth`, so rates pass 0.2."""
from __future__ import annotations

import dataclasses

from netc import ast
from netc.diagnostics import NetcError
from netc.semantic.multipliers import scaled_args


def layer_form(registry, blk: ast.Block) -> ast.Block | None:
    """``blk`` as the layer block lowering makes of it: as written (`mb_...`), a modular-YAML module naming a block
    type, or a layer block written with its input (`mb_...:x#`); None for ops and modules."""
    if blk.code not in registry.blocks or blk.code in registry.ops:
        return None
    if blk.kind == "layer":
        return blk
    if blk.kind == "module" and blk.code not in registry.modules:
        from netc.semantic.modules import as_layer_block
        return as_layer_block(blk)
    if blk.kind == "op" and "_".join([blk.code, *(a.text for a in blk.args)]) not in registry.ops:
        return dataclasses.replace(blk, kind="layer", refs=())
    return None


class DropConnect:
    """Counts the copies written with `dc` before lowering; then hands each copy its rate as `dr`."""

    def __init__(self, spec: ast.Spec, limits, registry):
        self.total, self.seen = 0, 0
        self.as_written = spec.depth_schedule == "written"   # then copies past B exist (depth > 1)
        self.depth = spec.depth or 1.0
        for st in spec.stacks:
            if st.name == spec.input_stack:
                continue
            for blk in st.blocks:
                try:
                    layer = layer_form(registry, blk)
                    btype = registry.blocks[layer.code] if layer is not None else None
                    if btype is None or "dc" not in btype.params:
                        continue
                    written = registry.decode_args(layer, btype, limits)[0]
                    args = written if spec.depth_schedule == "written" else scaled_args(spec, btype, written)
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
        if self.seen >= self.total and not self.as_written:   # pragma: no cover - layer_form and lowering disagree
            raise AssertionError(f"drop-connect schedule: copy {self.seen} of {self.total} counted")
        rate = args.dc * self.seen / self.total
        if rate >= 1.0:   # only past B, with `depth X written`
            raise NetcError(f"this copy's drop-connect rate is {args.dc:g} x {self.seen} / {self.total} = {rate:.3g}, "
                            f"1 or more (`depth {self.depth:g} written` counts B before depth)", args.span("dc"))
        self.seen += 1
        return args.replace(dr=rate)
