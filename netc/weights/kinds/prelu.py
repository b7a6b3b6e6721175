"""PReLU: one alpha per element (``npre``, (H, W, C)) or per channel (``nprc``, (1, 1, C))."""
from __future__ import annotations

from typing import Any

ROLES = ("alpha",)


def _fmt(s) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def ir_sig(node: Any) -> tuple[tuple, dict]:
    return ("prelu", tuple(int(d) for d in node.weights["alpha"].shape)), {}


def from_torch(role: str, arr: Any, shape: tuple[int, ...]) -> Any:
    """PReLU's weight (C,) -> netc's per-channel alpha (1, 1, C); never a per-element alpha (``npre``)."""
    if arr.ndim != 1 or len(shape) != 3 or shape[:2] != (1, 1) or arr.shape[0] != shape[2]:
        return None
    return arr.reshape(shape)


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("prelu", prims=("prelu",), roles=ROLES, keras_classes=("PReLU",), file_names={"p_re_lu": "PReLU"},
                hints=(("p_re_lu", "PReLU"), ("prelu", "PReLU")), ir_sig=ir_sig,
                describe=lambda sig: f"a PReLU with alpha {_fmt(sig[1])}", difference=lambda a, b: None,
                recognise=lambda shapes: len(shapes) == 1 and len(shapes[0]) == 3, queue=lambda sig: "PReLU",
                torch_roles={"weight": "alpha"}, from_torch=from_torch)


KIND = _kind()
