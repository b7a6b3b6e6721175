"""Layer normalisation over the channels: gamma and beta (Keras LayerNormalization)."""
from __future__ import annotations

from typing import Any

ROLES = ("gamma", "beta")


def ir_sig(node: Any) -> tuple[tuple, dict]:
    return ("ln", int(node.out.shape[-1])), {"epsilon": float(node.attrs.get("epsilon", 1e-3))}


def difference(a: tuple, b: tuple) -> str | None:
    return f"a different width: {a[1]} channels in the spec, {b[1]} in the source" if a[1] != b[1] else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("ln", prims=("layernorm",), roles=ROLES, keras_classes=("LayerNormalization",),
                file_names={"layer_normalization": "LayerNormalization"},
                hints=(("layernorm", "LayerNormalization"), ("layer_norm", "LayerNormalization")),
                ir_sig=ir_sig, describe=lambda sig: f"a layer norm on {sig[1]} channels", difference=difference,
                recognise=lambda shapes: len(shapes) == 2 and all(len(s) == 1 for s in shapes),
                queue=lambda sig: "LayerNormalization", identity={"gamma": 1.0, "beta": 0.0},
                torch_roles={"weight": "gamma", "bias": "beta"},
                from_torch=lambda role, arr, shape: arr if tuple(arr.shape) == tuple(shape) else None)


KIND = _kind()
