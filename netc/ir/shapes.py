"""Shape arithmetic shared by the builder, the primitives and the passes (no numpy, no graph)."""
from __future__ import annotations

Shape = tuple  # (N, H, W, C) or (N, C), entries int or None


def fmt_shape(shape: Shape) -> str:
    """(None, 28, 28, 38) -> 'Nx28x28x38' as users read shapes."""
    return "x".join("N" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape))


def fmt_hw(shape: Shape) -> str:
    """The non-batch, non-channel dims: '28x28' of an image, '' of a feature vector."""
    return "x".join("?" if d is None else str(d) for d in shape[1:-1])


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """A kernel size or stride as (h, w): ``3`` -> (3, 3), ``(1, 7)`` stays."""
    if isinstance(v, (tuple, list)):
        h, w = v
        return int(h), int(w)
    return int(v), int(v)


def fmt_pair(v: tuple[int, int]) -> str:
    return f"{v[0]}x{v[1]}"


def same_pads(size: int | None, k: int, s: int) -> tuple[int | None, int, int]:
    """TF SAME: (out, pad_before, pad_after); the extra pixel goes after."""
    if size is None:
        return None, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def valid_out(size: int | None, k: int, s: int) -> int | None:
    if size is None:
        return None
    return (size - k) // s + 1
