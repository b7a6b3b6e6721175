"""A spec's `width` and `depth` multipliers applied to a block's decoded arguments."""
from __future__ import annotations

import math
from typing import Callable

from netc import ast

#: how `width` rounds a scaled `c`, by the word after its number (`width 1.2 nearest`; YAML `width_rounding`)
ROUNDINGS: dict[str, str] = {
    "bounded": "the nearest multiple of 8, at least 8, never more than 10% below (the default: timm, "
               "tf_netbuilder, Keras MobileNetV2 and EfficientNet)",
    "nearest": "the nearest multiple of 8, at least 8 (Keras EfficientNetV2's round_filters: 16 x 1.2 is 16)",
}
#: what EfficientNet's drop-connect schedule (`dc`) divides by, by the word after `depth`'s number (`depth 1.4
#: written`; YAML `depth_schedule`)
SCHEDULES: dict[str, str] = {
    "scaled": "drop-connect's B counts the copies after `depth` (the default: Keras EfficientNet)",
    "written": "drop-connect's B counts the copies as written, before `depth` (Keras EfficientNetV2)",
}
#: each multiplier's optional word: (the words, what the word says, the Spec attribute holding it)
SCALE_WORDS: dict[str, tuple[dict[str, str], str, str]] = {
    "width": (ROUNDINGS, "width rounding", "width_rounding"),
    "depth": (SCHEDULES, "depth schedule", "depth_schedule"),
}


def round_nearest(v: float, divisor: int = 8) -> int:
    """``v`` to the nearest multiple of ``divisor`` (halves up), at least ``divisor``: no 10% bound."""
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


def width_rounding(spec: ast.Spec) -> Callable[[float], int]:
    """The spec's rounding of a scaled `c`: its `width` word's, `bounded` when none is written."""
    if spec.width_rounding == "nearest":
        return round_nearest
    from netc.blocks.inverted_residual import make_divisible
    return make_divisible


def scaled_args(spec: ast.Spec, btype, args):
    """Apply the spec's multipliers: `width` scales `c` (blocks with ``scales_width``) to a multiple of 8 by the
    spec's rounding (:data:`ROUNDINGS`; `fixc` keeps a block's `c`: a classifier's classes); `depth` scales every
    repeat count written (`r3`, and `r1`: a stage of one block, as Keras EfficientNet's round_repeats scales its
    one-block stages) and any above 1, rounded up; a block without `r` stays single."""
    changes = {}
    if spec.width is not None and spec.width != 1.0 and btype.scales_width and "c" in btype.params \
            and args.c is not None and not getattr(args, "fixc", False):
        changes["c"] = width_rounding(spec)(args.c * spec.width)
    if spec.depth is not None and spec.depth != 1.0 and "r" in btype.params and (args.r > 1 or args.written("r")):
        changes["r"] = scaled_repeats(args.r, spec.depth)
    return args.replace(**changes) if changes else args


def scaled_repeats(r: int, depth: float) -> int:
    """``r`` copies under the `depth` multiplier: ceil(r * depth), at least 1 (Keras EfficientNet, timm)."""
    return max(1, math.ceil(r * depth - 1e-9))
