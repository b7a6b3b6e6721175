"""resize: upsampling of H and W by integer factors, bilinear with half-pixel centres or nearest."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def bilinear_taps(size: int, scale: int):
    """Half-pixel bilinear taps along one axis: (lower index, upper index, upper weight), edge-clamped."""
    src = (np.arange(size * scale, dtype=np.float64) + 0.5) / scale - 0.5
    floor = np.floor(src)
    frac = src - floor
    lo = np.clip(floor, 0, size - 1).astype(np.int64)
    hi = np.clip(floor + 1, 0, size - 1).astype(np.int64)
    return lo, hi, frac


def _run(node, xs, weights):
    """Mode "bilinear" is tf.image.resize (half-pixel centres), "nearest" is UpSampling2D."""
    x = xs[0]
    sh, sw = node.attrs["scale"]
    mode = node.attrs["mode"]
    if mode == "nearest":
        return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)
    if mode != "bilinear":
        raise ValueError(f"unknown resize mode {mode!r}")
    y = x.astype(np.float64)
    for axis, s in ((1, sh), (2, sw)):
        lo, hi, frac = bilinear_taps(y.shape[axis], s)
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        frac = frac.reshape(shape)
        y = np.take(y, lo, axis=axis) * (1.0 - frac) + np.take(y, hi, axis=axis) * frac
    return y.astype(ftype(x))


DEF = PrimDef("resize", "upsample H, W; attrs: scale (sh, sw), mode (bilinear half-pixel | nearest)", (1, 1),
              _run, ranks=(4,), attrs=("scale", "mode"))


class Build:
    def resize(self, x, factor: int = 2, mode: str = "bilinear", name: str = "resize"):
        """Upsample H and W by an integer ``factor`` (bilinear half-pixel, or nearest)."""
        self._need_rank(x, 4, "resize")
        if mode not in ("bilinear", "nearest"):
            raise self.error(f"resize: unknown mode `{mode}` (bilinear, nearest)")
        n, h, w, c = x.shape
        shape = (n, None if h is None else h * factor, None if w is None else w * factor, c)
        return self._add(DEF.name, [x], shape, name, {"scale": (factor, factor), "mode": mode})
