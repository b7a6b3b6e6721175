"""maxpool: the maximum over each window (padding never wins)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np
from netc.ir.prims._window import WINDOW_ATTRS, check_window, windows
from netc.ir.shapes import pair


def _run(node, xs, weights):
    out = None
    for _, _, p in windows(node, xs[0], -np.inf):
        out = p if out is None else np.maximum(out, p)
    return out.astype(ftype(xs[0]))


DEF = PrimDef("maxpool", "window maximum; attrs: kernel_size, strides (h, w), padding, pads", (1, 1), _run,
              ranks=(4,), attrs=WINDOW_ATTRS, check=check_window)


class Build:
    def maxpool(self, x, kernel, stride, padding: str = "valid", name: str = "pool"):
        shape, pads = self._window(x, kernel, stride, padding, "maxpool")
        attrs = {"kernel_size": pair(kernel), "strides": pair(stride), "padding": padding, "pads": pads}
        return self._add(DEF.name, [x], shape, name, attrs)
