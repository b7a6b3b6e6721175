"""Dense (fully connected) layers on a flat tensor: kernel (in, out) and bias."""
from __future__ import annotations

from typing import Any

ROLES = ("kernel", "bias")


def ir_sig(node: Any) -> tuple[tuple, dict]:
    k = node.weights["kernel"].shape
    return ("dense", int(k[0]), int(k[-1]), "bias" in node.weights), {}


def difference(a: tuple, b: tuple) -> str | None:
    if a[2] != b[2]:
        return f"a different width: {a[2]} outputs in the spec, {b[2]} in the source"
    if a[1] != b[1]:
        return f"a different input width: {a[1]} in the spec, {b[1]} in the source"
    if a[3] != b[3]:
        return "a bias on one side only"
    return None


TORCH_ROLES = {"weight": "kernel", "bias": "bias"}


def from_torch(role: str, arr: Any, shape: tuple[int, ...]) -> Any:
    """Linear's weight (out, in) -> (in, out) (a 1x1 Conv2d's (out, in, 1, 1) too); a bias as it is."""
    if role == "kernel":
        if arr.ndim == 4 and arr.shape[2:] == (1, 1):
            arr = arr[:, :, 0, 0]
        if arr.ndim != 2:
            return None
        arr = arr.T
    return arr if tuple(arr.shape) == tuple(shape) else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("dense", prims=("dense",), roles=ROLES, keras_classes=("Dense",), file_names={"dense": "Dense"},
                hints=(("dense", "Dense"),), ir_sig=ir_sig,
                describe=lambda sig: f"a dense layer {sig[1]} -> {sig[2]}" + (", with bias" if sig[3] else ""),
                difference=difference, recognise=lambda shapes: bool(shapes) and len(shapes[0]) == 2,
                queue=lambda sig: "Dense", claims=lambda node: node.inputs[0].rank == 2,
                torch_roles=TORCH_ROLES, from_torch=from_torch)


KIND = _kind()
