"""A spec's `width` and `depth` multipliers applied to a block's decoded arguments."""
from __future__ import annotations

import math

from netc import ast


def scaled_args(spec: ast.Spec, btype, args):
    """Apply the spec's multipliers: `width` scales `c` (blocks with ``scales_width``) to a multiple of 8 as
    timm and Ultralytics round (at least 8, never more than 10% below; `fixc` keeps a block's `c`: a classifier's
    classes); `depth` scales every repeat count written (`r3`, and `r1`: a stage of one block, as Keras EfficientNet's
    round_repeats scales its one-block stages) and any above 1, rounded up; a block without `r` stays single."""
    from netc.blocks.inverted_residual import make_divisible
    changes = {}
    if spec.width is not None and spec.width != 1.0 and btype.scales_width and "c" in btype.params \
            and args.c is not None and not getattr(args, "fixc", False):
        changes["c"] = make_divisible(args.c * spec.width)
    if spec.depth is not None and spec.depth != 1.0 and "r" in btype.params and (args.r > 1 or args.written("r")):
        changes["r"] = scaled_repeats(args.r, spec.depth)
    return args.replace(**changes) if changes else args


def scaled_repeats(r: int, depth: float) -> int:
    """``r`` copies under the `depth` multiplier: ceil(r * depth), at least 1 (Keras EfficientNet, timm)."""
    return max(1, math.ceil(r * depth - 1e-9))
