"""Convolutions (Conv2D, DepthwiseConv2D, SeparableConv2D's two halves, a Dense on NHWC): kernel and bias."""
from __future__ import annotations

from typing import Any

ROLES = ("kernel", "bias")


def conv_sig(kh: int, kw: int, cin_g: int, cout: int, groups: int, strides: tuple, dil: tuple,
             bias: bool) -> tuple:
    return ("conv", int(kh), int(kw), int(cin_g), int(cout), int(groups), tuple(int(s) for s in strides),
            tuple(int(d) for d in dil), bool(bias))


def _padding(node: Any) -> str:
    """The conv's padding; a zero padding then a VALID conv that together pad exactly as SAME at the spec's size
    (Keras' ZeroPadding2D + VALID stride-2 convs, written as they are) reads as SAME, as the source side does."""
    a = node.attrs
    padding = a.get("padding", "same")
    pad = node.inputs[0].producer if node.inputs else None
    if padding != "valid" or pad is None or getattr(pad.prim, "value", pad.prim) != "pad":
        return padding
    from netc.ir.shapes import same_pads
    _, h, w, _ = pad.inputs[0].shape
    if h is None or w is None:
        return padding
    (kh, kw), (sh, sw) = a["kernel_size"], a["strides"]
    t, l, b, r = pad.attrs["pads"]
    if same_pads(h, kh, sh)[1:] == (t, b) and same_pads(w, kw, sw)[1:] == (l, r):
        return "same"
    return padding


def ir_sig(node: Any) -> tuple[tuple, dict]:
    w, a = node.weights, node.attrs
    if getattr(node.prim, "value", node.prim) == "dense":   # a Dense on an image: a 1x1 conv, as the source reads it
        i, o = w["kernel"].shape
        return conv_sig(1, 1, i, o, 1, (1, 1), (1, 1), "bias" in w), {"padding": "same"}
    kh, kw, cin_g, cout = w["kernel"].shape
    soft = {"padding": "same" if (kh, kw) == (1, 1) else _padding(node)}
    return conv_sig(kh, kw, cin_g, cout, a.get("groups", 1), a.get("strides", (1, 1)), a.get("dilations", (1, 1)),
                    "bias" in w), soft


def describe(sig: tuple) -> str:
    _, kh, kw, cin_g, cout, groups, strides, dil, bias = sig
    cin = cin_g * groups
    extra = "" if strides == (1, 1) else f", stride {strides[0] if strides[0] == strides[1] else strides}"
    extra += "" if dil == (1, 1) else f", dilation {dil}"
    extra += ", with bias" if bias else ""
    if groups == cin and groups > 1:
        mult = "" if cout == cin else f", multiplier {cout // cin}"
        return f"a {kh}x{kw} depthwise conv on {cin} channels{mult}{extra}"
    grp = f" in {groups} groups" if groups > 1 else ""
    return f"a {kh}x{kw} conv {cin} -> {cout} channels{grp}{extra}"


def difference(a: tuple, b: tuple) -> str | None:
    if a[1:3] != b[1:3]:
        return f"a different kernel size: {a[1]}x{a[2]} in the spec, {b[1]}x{b[2]} in the source"
    if a[4] != b[4]:
        return f"a different width: {a[4]} output channels in the spec, {b[4]} in the source"
    if a[3] * a[5] != b[3] * b[5]:
        return f"a different input width: {a[3] * a[5]} channels in the spec, {b[3] * b[5]} in the source"
    if a[5] != b[5]:
        return f"different groups: {a[5]} in the spec, {b[5]} in the source"
    if a[6] != b[6]:
        return f"a different stride: {a[6]} in the spec, {b[6]} in the source"
    if a[7] != b[7]:
        return f"a different dilation: {a[7]} in the spec, {b[7]} in the source"
    if a[8] != b[8]:
        return "a bias on one side only: " + ("the spec has one" if a[8] else "the source has one")
    return None


def queue(sig: tuple) -> str:
    cin_g, cout, groups = sig[3:6]
    return "DepthwiseConv2D" if groups > 1 and cin_g == 1 and cout % groups == 0 else "Conv2D"


TORCH_ROLES = {"weight": "kernel", "bias": "bias"}


def from_torch(role: str, arr: Any, shape: tuple[int, ...]) -> Any:
    """Conv2d's weight (out, in / groups, kh, kw) -> HWIO (a depthwise conv's (C, 1, kh, kw) -> (kh, kw, 1, C),
    netc's grouped layout); a Linear's (out, in) -> a 1x1 kernel (1, 1, in, out); a bias as it is."""
    if role == "kernel":
        if arr.ndim == 4:
            arr = arr.transpose(2, 3, 1, 0)
        elif arr.ndim == 2 and len(shape) == 4 and shape[:2] == (1, 1):
            arr = arr.T.reshape(1, 1, arr.shape[1], arr.shape[0])
        else:
            return None
    return arr if tuple(arr.shape) == tuple(shape) else None


def _kind():
    from netc.weights.kinds.kind import Kind
    return Kind("conv", prims=("conv", "dense"), roles=ROLES,
                keras_classes=("Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D"),
                file_names={"conv2d": "Conv2D", "depthwise_conv2d": "DepthwiseConv2D",
                            "separable_conv2d": "SeparableConv2D"},
                hints=(("separable", "SeparableConv2D"), ("depthwise", "DepthwiseConv2D"), ("conv", "Conv2D")),
                ir_sig=ir_sig, describe=describe, difference=difference,
                recognise=lambda shapes: bool(shapes) and len(shapes[0]) == 4, queue=queue,
                claims=lambda node: getattr(node.prim, "value", node.prim) == "conv" or node.inputs[0].rank == 4,
                torch_roles=TORCH_ROLES, from_torch=from_torch)


KIND = _kind()
