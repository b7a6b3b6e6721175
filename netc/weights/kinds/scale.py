"""A per-channel layer scale, x * gamma: ConvNeXt's LayerScale (keras.applications.convnext)."""
from __future__ import annotations

from typing import Any

ROLES = ("gamma",)


def ir_sig(node: Any) -> tuple[tuple, dict]:
    return ("scale", int(node.out.shape[-1])), {}


def difference(a: tuple, b: tuple) -> str | None:
    return f"a different width: {a[1]} channels in the spec, {b[1]} in the source" if a[1] != b[1] else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("scale", prims=("batchnorm",), roles=ROLES, keras_classes=("LayerScale",),
                file_names={"layer_scale": "LayerScale"}, hints=(("layer_scale", "LayerScale"),),
                ir_sig=ir_sig, describe=lambda sig: f"a layer scale of {sig[1]} channels", difference=difference,
                recognise=lambda shapes: len(shapes) == 1 and len(shapes[0]) == 1,
                queue=lambda sig: "LayerScale",
                claims=lambda node: "moving_mean" not in node.weights and set(node.weights) == {"gamma"})


KIND = _kind()
