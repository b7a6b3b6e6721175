"""What every channels-first backend (ONNX, PyTorch) does to the channels-last IR, in one place.

The IR is NHWC with Keras weight layouts (kernels HWIO, dense (in, out), PReLU alpha (H, W, C)); ONNX and
PyTorch compute NCHW. These helpers give the layouts, the axis permutations of image inputs and outputs,
Keras' Flatten order, and TF SAME's pads (asymmetric where the odd pixel goes after), so that no backend
works them out on its own.
"""
from __future__ import annotations

import numpy as np

from netc.ir.graph import Node, Value

TO_NCHW = (0, 3, 1, 2)   # NHWC -> NCHW
TO_NHWC = (0, 2, 3, 1)   # NCHW -> NHWC
CHANNEL_AXIS = 1         # of both image (N, C, H, W) and feature (N, C) tensors


def conv_kernel(kernel: np.ndarray) -> np.ndarray:
    """HWIO (kh, kw, cin/groups, cout) -> OIHW (cout, cin/groups, kh, kw); a transposed view, not a copy."""
    return kernel.transpose(3, 2, 0, 1)


def dense_kernel_out_in(kernel: np.ndarray) -> np.ndarray:
    """Dense (in, out) -> (out, in), PyTorch's Linear layout (ONNX's Gemm takes (in, out) as it is)."""
    return kernel.T


def prelu_slope(alpha: np.ndarray) -> np.ndarray:
    """PReLU slopes (H, W, C) -> (C, H, W), broadcasting over NCHW; (C,) of a feature tensor as it is."""
    return alpha.transpose(2, 0, 1) if alpha.ndim == 3 else alpha


def per_channel_slope(alpha: np.ndarray) -> bool:
    """Whether PReLU slopes (H, W, C) are one per channel ((1, 1, C), or a feature tensor's (C,))."""
    return alpha.ndim == 1 or alpha.shape[:2] == (1, 1)


def flatten_needs_nhwc(x: Value) -> bool:
    """Keras flattens NHWC (H, W, C order): an NCHW tensor is transposed back first, unless H = W = 1, where
    both orders agree."""
    return tuple(x.shape[1:3]) != (1, 1)


def is_image(v: Value) -> bool:
    """A rank-4 tensor, NCHW inside a channels-first backend (what the io layout permutes)."""
    return v.rank == 4


def window_pads(node: Node) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of a conv or pool; None for TF SAME on a dynamic size (pads known only at run
    time: the odd pixel after, ONNX's SAME_UPPER)."""
    pads = node.attrs.get("pads")
    if pads is not None:
        return tuple(int(p) for p in pads)
    return None if node.attrs.get("padding") == "same" else (0, 0, 0, 0)


def symmetric_pads(pads: tuple[int, int, int, int]) -> tuple[int, int] | None:
    """(pad_h, pad_w) where pads are the same on both sides, as PyTorch's ``padding=`` is; else None."""
    top, left, bottom, right = pads
    return (top, left) if (top, left) == (bottom, right) else None


def torch_pad_order(pads: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) -> (left, right, top, bottom), the order of ``torch.nn.functional.pad``."""
    top, left, bottom, right = pads
    return (left, right, top, bottom)
