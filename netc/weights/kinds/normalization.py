"""Keras Normalization with its weights: mean, variance and count (the channel-wise affine's "max" rule)."""
from __future__ import annotations

from typing import Any

ROLES = ("moving_mean", "moving_variance", "count")


def ir_sig(node: Any) -> tuple[tuple, dict]:
    return ("norm", int(node.out.shape[-1])), {}


def difference(a: tuple, b: tuple) -> str | None:
    return f"a different width: {a[1]} channels in the spec, {b[1]} in the source" if a[1] != b[1] else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("norm", prims=("batchnorm",), roles=ROLES, keras_classes=("Normalization",),
                file_names={"normalization": "Normalization"}, hints=(("normalization", "Normalization"),),
                ir_sig=ir_sig, describe=lambda sig: f"a normalization (mean, variance) of {sig[1]} channels",
                difference=difference,
                recognise=lambda shapes: len(shapes) == 3 and shapes[2] == () and len(shapes[0]) == 1,
                queue=lambda sig: "Normalization",
                claims=lambda node: node.attrs.get("epsilon_rule", "add") == "max")


KIND = _kind()
