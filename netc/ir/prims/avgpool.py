"""avgpool: the average over each window's in-bounds elements (padding not counted)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np
from netc.ir.prims._window import WINDOW_ATTRS, check_window, windows
from netc.ir.shapes import pair


def _run(node, xs, weights):
    x = xs[0].astype(np.float64)
    ones = np.ones(x.shape[:3] + (1,), np.float64)
    total = sum(p for _, _, p in windows(node, x, 0.0))
    count = sum(p for _, _, p in windows(node, ones, 0.0))
    return (total / count).astype(ftype(xs[0]))


DEF = PrimDef("avgpool", "window average; attrs: kernel_size, strides (h, w), padding, pads", (1, 1), _run,
              ranks=(4,), attrs=WINDOW_ATTRS, check=check_window)


class Build:
    def avgpool(self, x, kernel, stride, padding: str = "valid", name: str = "pool"):
        shape, pads = self._window(x, kernel, stride, padding, "avgpool")
        attrs = {"kernel_size": pair(kernel), "strides": pair(stride), "padding": padding, "pads": pads}
        return self._add(DEF.name, [x], shape, name, attrs)

    def pool(self, kind: str, x, kernel, stride, padding: str = "valid", name: str = "pool"):
        """``kind`` "avg" or "max"; kernel and stride an int or an (h, w) pair."""
        return (self.avgpool if kind == "avg" else self.maxpool)(x, kernel, stride, padding, name)
