"""global_avgpool: the mean over H and W, to (N, 1, 1, C) (keepdims) or (N, C)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    keep = node.attrs.get("keepdims", True)
    return xs[0].astype(np.float64).mean(axis=(1, 2), keepdims=keep).astype(ftype(xs[0]))


DEF = PrimDef("global_avgpool", "mean over H, W; attrs: keepdims", (1, 1), _run, ranks=(4,), attrs=("keepdims",))


class Build:
    def global_avgpool(self, x, name: str = "pool", keepdims: bool = True):
        """Mean over H and W: (N, 1, 1, C) with ``keepdims``, else (N, C)."""
        self._need_rank(x, 4, "global average pooling")
        n, _, _, c = x.shape
        shape = (n, 1, 1, c) if keepdims else (n, c)
        return self._add(DEF.name, [x], shape, name, {"keepdims": keepdims})
