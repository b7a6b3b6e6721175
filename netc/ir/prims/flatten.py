"""flatten: (N, H, W, C) -> (N, H*W*C), row-major in NHWC order (Keras Flatten)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef
from netc.ir.shapes import fmt_shape


def _run(node, xs, weights):
    return xs[0].reshape(xs[0].shape[0], -1)


def _check(n) -> str | None:
    _, h, w, c = n.inputs[0].shape
    return None if n.out.shape[1:] == (h * w * c,) else f"output {n.out.shape} from input {n.inputs[0].shape}"


DEF = PrimDef("flatten", "(N, H, W, C) -> (N, H*W*C) in NHWC order", (1, 1), _run, ranks=(4,), check=_check)


class Build:
    def flatten(self, x, name: str = "flatten"):
        """(N, H, W, C) -> (N, H*W*C) in NHWC order (as Keras' Flatten); needs static sizes."""
        self._need_rank(x, 4, "flatten")
        n, h, w, c = x.shape
        if h is None or w is None:
            raise self.error(f"flatten needs a static size, but its input is {fmt_shape(x.shape)}; use global "
                             f"pooling (`gap`) for a dynamic size")
        return self._add(DEF.name, [x], (n, h * w * c), name)
