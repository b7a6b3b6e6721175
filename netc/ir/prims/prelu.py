"""prelu: x where x >= 0, else alpha * x; alpha (H, W, C) (Keras' default, tf_netbuilder's `pre`) or (1, 1, C)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np, weight
from netc.ir.shapes import fmt_shape


def _run(node, xs, weights):
    x, alpha = xs[0], weight(node, "alpha", weights)
    return np.where(x >= 0, x, alpha * x).astype(ftype(x))


def _check(n) -> str | None:
    x = n.inputs[0]
    a = n.weights["alpha"].shape
    if x.rank == 2:
        return None if a == (x.channels,) else f"alpha shape {a}, expected ({x.channels},)"
    ok = len(a) == 3 and a[2] == x.channels and all(d == 1 or d == s for d, s in zip(a[:2], x.shape[1:3]))
    return None if ok else f"alpha shape {a} does not broadcast over {x.shape}"


DEF = PrimDef("prelu", "x >= 0 ? x : alpha * x; attrs: shared_axes", (1, 1), _run, attrs=("shared_axes",),
              weights=("alpha",), roles={"alpha": ("alpha",)}, same_shape=True, check=_check)


class Build:
    def prelu(self, x, name: str = "act", per_channel: bool = False):
        """PReLU; Keras default (``per_channel=False``) has one alpha per (H, W, C) element."""
        if x.rank == 2:
            wt = self._weight(name, "alpha", (x.channels,), "alpha")
            return self._add(DEF.name, [x], x.shape, name, {"shared_axes": None}, {"alpha": wt})
        _, h, w, c = x.shape
        if per_channel:
            shape, axes = (1, 1, c), (1, 2)
        else:
            if h is None or w is None:
                raise self.error(
                    "activation `pre` (PReLU with one alpha per H x W x C element, as in tf_netbuilder) "
                    f"needs a static input size, but this block's input is {fmt_shape(x.shape)}; "
                    "give the input a fixed size, or use the per-channel PReLU `prc`")
            shape, axes = (h, w, c), None
        wt = self._weight(name, "alpha", shape, "alpha")
        return self._add(DEF.name, [x], x.shape, name, {"shared_axes": axes}, {"alpha": wt})
