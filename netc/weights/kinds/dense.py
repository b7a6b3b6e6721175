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


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("dense", prims=("dense",), roles=ROLES, keras_classes=("Dense",), file_names={"dense": "Dense"},
                hints=(("dense", "Dense"),), ir_sig=ir_sig,
                describe=lambda sig: f"a dense layer {sig[1]} -> {sig[2]}" + (", with bias" if sig[3] else ""),
                difference=difference, recognise=lambda shapes: bool(shapes) and len(shapes[0]) == 2,
                queue=lambda sig: "Dense", claims=lambda node: node.inputs[0].rank == 2)


KIND = _kind()
