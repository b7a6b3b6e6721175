"""Batch normalisation: gamma, beta, moving mean and variance (gamma 1 / beta 0 when the layer has none)."""
from __future__ import annotations

from typing import Any

ROLES = ("gamma", "beta", "moving_mean", "moving_variance")


def ir_sig(node: Any) -> tuple[tuple, dict]:
    return ("bn", int(node.out.shape[-1])), {"epsilon": float(node.attrs.get("epsilon", 1e-3))}


def claims(node: Any) -> bool:
    """A channel-wise affine with BN statistics and BN's epsilon rule (gamma and beta may be absent)."""
    return "moving_mean" in node.weights and node.attrs.get("epsilon_rule", "add") == "add"


def difference(a: tuple, b: tuple) -> str | None:
    if a[1] != b[1]:
        return f"a different width: {a[1]} channels in the spec, {b[1]} in the source"
    return None


# BatchNorm2d: weight, bias, running_mean, running_var (num_batches_tracked counts steps and is ignored)
TORCH_ROLES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _same(role: str, arr: Any, shape: tuple[int, ...]) -> Any:
    return arr if tuple(arr.shape) == tuple(shape) else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("bn", prims=("batchnorm",), roles=ROLES, keras_classes=("BatchNormalization",),
                file_names={"batch_normalization": "BatchNormalization"},
                hints=(("batch_norm", "BatchNormalization"), ("bn", "BatchNormalization")),
                ir_sig=ir_sig, describe=lambda sig: f"a batch norm on {sig[1]} channels", difference=difference,
                recognise=lambda shapes: len(shapes) in (3, 4) and all(len(s) == 1 for s in shapes),
                queue=lambda sig: "BatchNormalization", identity={"gamma": 1.0, "beta": 0.0}, claims=claims,
                torch_roles=TORCH_ROLES, torch_ignored=("num_batches_tracked",), from_torch=_same)


KIND = _kind()
