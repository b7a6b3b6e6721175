"""crop: cropping of H and W by (top, left, bottom, right) (Keras Cropping2D)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef
from netc.ir.shapes import fmt_shape


def _run(node, xs, weights):
    t, l, b, r = node.attrs["crops"]
    x = xs[0]
    return x[:, t:x.shape[1] - b, l:x.shape[2] - r, :]


def _check(n) -> str | None:
    crops = n.attrs["crops"]
    return None if len(crops) == 4 and min(crops) >= 0 else f"crops {crops}"


DEF = PrimDef("crop", "cropping of H, W; attrs: crops (top, left, bottom, right)", (1, 1), _run, ranks=(4,),
              attrs=("crops",), check=_check)


class Build:
    def crop(self, x, crops: tuple[int, int, int, int], name: str = "crop"):
        """Remove (top, left, bottom, right) rows and columns of H and W."""
        self._need_rank(x, 4, "crop")
        t, l, b_, r = (int(p) for p in crops)
        n, h, w, c = x.shape
        if (h is not None and h <= t + b_) or (w is not None and w <= l + r):
            raise self.error(f"crop ({t}, {l}, {b_}, {r}) leaves nothing of its {fmt_shape(x.shape)} input")
        shape = (n, None if h is None else h - t - b_, None if w is None else w - l - r, c)
        return self._add(DEF.name, [x], shape, name, {"crops": (t, l, b_, r)})
