"""pad: zero padding of H and W by (top, left, bottom, right)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, np


def _run(node, xs, weights):
    t, l, b, r = node.attrs["pads"]
    return np.pad(xs[0], ((0, 0), (t, b), (l, r), (0, 0)))


def _check(n) -> str | None:
    pads = n.attrs["pads"]
    return None if len(pads) == 4 and min(pads) >= 0 else f"pads {pads}"


DEF = PrimDef("pad", "zero padding of H, W; attrs: pads (top, left, bottom, right)", (1, 1), _run, ranks=(4,),
              attrs=("pads",), check=_check)


class Build:
    def pad(self, x, pads: tuple[int, int, int, int], name: str = "pad"):
        """Zero padding of H and W by (top, left, bottom, right)."""
        self._need_rank(x, 4, "pad")
        t, l, b_, r = (int(p) for p in pads)
        n, h, w, c = x.shape
        shape = (n, None if h is None else h + t + b_, None if w is None else w + l + r, c)
        return self._add(DEF.name, [x], shape, name, {"pads": (t, l, b_, r)})
