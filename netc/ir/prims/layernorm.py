"""layernorm: normalisation over the last axis, (x - mean) / sqrt(var + eps) * gamma + beta (Keras
LayerNormalization; ONNX LayerNormalization from opset 17, decomposed below)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np


def _run(node, xs, weights):
    x = xs[0].astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + float(node.attrs["epsilon"]))
    if "gamma" in node.weights:
        y = y * np.asarray(weights[node.weights["gamma"].name], np.float64)
    if "beta" in node.weights:
        y = y + np.asarray(weights[node.weights["beta"].name], np.float64)
    return y.astype(ftype(xs[0]))


def _check(n) -> str | None:
    c = n.inputs[0].channels
    for k, w in n.weights.items():
        if w.shape != (c,):
            return f"weight {k} shape {w.shape}, expected ({c},)"
    return None


DEF = PrimDef("layernorm", "normalisation over the channel axis; attrs: epsilon", (1, 1), _run,
              attrs=("epsilon",), roles={"gamma": ("gamma",), "beta": ("beta",)}, same_shape=True, check=_check)


class Build:
    def layernorm(self, x, name: str = "layernorm", epsilon: float = 1e-3, *, scale: bool = True,
                  center: bool = True):
        c = (x.channels,)
        weights = {}
        if scale:
            weights["gamma"] = self._weight(name, "gamma", c, "gamma")
        if center:
            weights["beta"] = self._weight(name, "beta", c, "beta")
        return self._add(DEF.name, [x], x.shape, name, {"epsilon": float(epsilon)}, weights)
