"""dense: a fully connected layer on the last axis, (..., I) -> (..., O); kernel (I, O), optional bias (Keras
Dense, also on an image tensor: a 1x1 convolution)."""
from __future__ import annotations

import math

from netc.ir.prims._base import PrimDef, ftype, np, weight


def _run(node, xs, weights):
    y = xs[0].astype(np.float64) @ weight(node, "kernel", weights).astype(np.float64)
    if "bias" in node.weights:
        y = y + weight(node, "bias", weights)
    return y.astype(ftype(xs[0]))


def _check(n) -> str | None:
    want = (n.inputs[0].channels, n.out.channels)
    if n.weights["kernel"].shape != want:
        return f"kernel shape {n.weights['kernel'].shape}, expected {want}"
    if "bias" in n.weights and n.weights["bias"].shape != (n.out.channels,):
        return f"bias shape {n.weights['bias'].shape}"
    if n.out.shape[:-1] != n.inputs[0].shape[:-1]:
        return f"output {n.out.shape} from input {n.inputs[0].shape}"
    return None


def _macs(n) -> int:
    inner = n.out.shape[1:-1]
    if None in inner:
        return 0
    i, o = n.weights["kernel"].shape
    return math.prod(inner) * i * o


DEF = PrimDef("dense", "(..., I) -> (..., O) on the last axis; weights kernel (I, O)[, bias]", (1, 1), _run,
              weights=("kernel",), roles={"kernel": ("kernel",), "bias": ("bias",)}, check=_check, macs=_macs)


class Build:
    def dense(self, x, units: int, bias: bool = True, name: str = "dense"):
        """Fully connected layer on the last axis: kernel (I, units), optional bias."""
        cin = x.channels
        weights = {"kernel": self._weight(name, "kernel", (cin, units), "kernel", fans=(cin, units))}
        if bias:
            weights["bias"] = self._weight(name, "bias", (units,), "bias")
        return self._add(DEF.name, [x], x.shape[:-1] + (units,), name, {}, weights)
