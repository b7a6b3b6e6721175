"""A spec's `width` and `depth` multipliers applied to a block's decoded arguments."""
from __future__ import annotations

import math

from netc import ast


def scaled_args(spec: ast.Spec, btype, args):
    """Apply the spec's multipliers: `width` scales `c` (blocks with ``scales_width``) to a multiple of 8 as
    timm and Ultralytics round (at least 8, never more than 10% below); `depth` scales a repeat count above 1
    (`r3`), rounded up (`fixc` keeps a block's `c`: a classifier's classes); single blocks stay single, as Ultralytics scales only repeated modules."""
    from netc.blocks.inverted_residual import make_divisible
    changes = {}
    if spec.width is not None and spec.width != 1.0 and btype.scales_width and "c" in btype.params \
            and args.c is not None and not getattr(args, "fixc", False):
        changes["c"] = make_divisible(args.c * spec.width)
    if spec.depth is not None and spec.depth != 1.0 and "r" in btype.params and args.r > 1:
        changes["r"] = max(1, math.ceil(args.r * spec.depth - 1e-9))
    return args.replace(**changes) if changes else args
