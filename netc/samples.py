"""Sample inputs, drawn one way for every use: `netc check`'s input cases, the BN calibration of check's weights
and int8 calibration. Images are NHWC float32 at the spec's sizes, an input declared with `?` at
:data:`DYNAMIC_SIZE` everywhere (so a `?`-size spec is calibrated at the size it is checked at).

Each draw has its own random stream, from (seed, purpose, kind, batch, index): what one use draws never
depends on what another drew before it, and the purposes never share an input (int8 is not judged on the
images it was calibrated on).
"""
from __future__ import annotations

import zlib
from typing import Mapping, Sequence

import numpy as np

DYNAMIC_SIZE = 224   # the spatial size of inputs declared with `?`
KINDS = ("zeros", "normal", "uniform 0-255")   # uniform 0-255: raw pixels, as users feed the model
PURPOSES = ("check", "bn calibration", "int8 calibration")


def concrete(shape: Sequence[int | None], size: int = DYNAMIC_SIZE) -> tuple[int, ...]:
    """A per-sample shape (no batch axis) with its dynamic dimensions at ``size``."""
    return tuple(size if d is None else int(d) for d in shape)


def _stream(*parts: int | str) -> list[int]:
    return [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]


def draw(shapes: Mapping[str, Sequence[int | None]], seed: int, *, purpose: str, kind: str = "uniform 0-255",
         batch: int = 1, index: int = 0) -> dict[str, np.ndarray]:
    """One feed: an array of ``(batch, *shape)`` per input name (``None`` dimensions at :data:`DYNAMIC_SIZE`),
    float32; ``index`` numbers the feeds of a series (int8 calibration draws several)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r} (expected one of {', '.join(PURPOSES)})")
    if kind not in KINDS:
        raise ValueError(f"unknown kind of input {kind!r} (expected one of {', '.join(KINDS)})")
    rng = np.random.default_rng(_stream(seed & 0xFFFFFFFF, purpose, kind, batch, index))
    out = {}
    for name, shape in shapes.items():
        full = (batch, *concrete(shape))
        if kind == "zeros":
            x = np.zeros(full)
        elif kind == "normal":
            x = rng.standard_normal(full)
        else:
            x = rng.uniform(0, 255, full)
        out[name] = x.astype(np.float32)
    return out


def check_cases(shapes: Mapping[str, Sequence[int | None]], seed: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    """`netc check`'s input cases, named: zeros, standard normal, raw pixels, and raw pixels at batch 2."""
    return [
        ("zeros", draw(shapes, seed, purpose="check", kind="zeros")),
        ("normal", draw(shapes, seed, purpose="check", kind="normal")),
        ("uniform 0-255", draw(shapes, seed, purpose="check")),
        ("uniform, batch 2", draw(shapes, seed, purpose="check", batch=2)),
    ]
