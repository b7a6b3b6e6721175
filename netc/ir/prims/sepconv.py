"""sepconv: a separable convolution (Keras SeparableConv2D): depthwise kh x kw (multiplier 1), then a 1x1
pointwise convolution, optional bias; decomposed into two convs for backends without it."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np, weight
from netc.ir.prims._window import WINDOW_ATTRS, check_window, grouped_conv
from netc.ir.shapes import pair


def _run(node, xs, weights):
    x = xs[0].astype(np.float64)
    dw = weight(node, "depthwise_kernel", weights).astype(np.float64)
    y = grouped_conv(node, x, dw, x.shape[-1])
    y = y @ weight(node, "pointwise_kernel", weights).astype(np.float64)[0, 0]
    if "bias" in node.weights:
        y = y + weight(node, "bias", weights)
    return y.astype(ftype(xs[0]))


def _check(n) -> str | None:
    c, o = n.inputs[0].channels, n.out.channels
    kh, kw = n.attrs["kernel_size"]
    for key, want in (("depthwise_kernel", (kh, kw, 1, c)), ("pointwise_kernel", (1, 1, c, o))):
        if n.weights[key].shape != want:
            return f"{key} shape {n.weights[key].shape}, expected {want}"
    if "bias" in n.weights and n.weights["bias"].shape != (o,):
        return f"bias shape {n.weights['bias'].shape}, expected ({o},)"
    return check_window(n)


def _macs(n) -> int:
    _, h, w, o = n.out.shape
    if h is None or w is None:
        return 0
    kh, kw = n.attrs["kernel_size"]
    c = n.inputs[0].channels
    return h * w * c * (kh * kw + o)


DEF = PrimDef("sepconv", "depthwise then pointwise convolution; attrs: kernel_size, strides, padding, pads",
              (1, 1), _run, ranks=(4,), attrs=WINDOW_ATTRS, weights=("depthwise_kernel", "pointwise_kernel"),
              roles={"depthwise_kernel": ("depthwise_kernel",), "pointwise_kernel": ("kernel",), "bias": ("bias",)},
              check=_check, macs=_macs)


class Build:
    def sepconv(self, x, filters: int, kernel, stride=1, padding: str = "same", bias: bool = False,
                name: str = "sepconv"):
        """SeparableConv2D (depth multiplier 1): depthwise stored (kh, kw, 1, C), saved as Keras' (kh, kw, C, 1)."""
        c = x.channels
        if filters < 1:
            raise self.error(f"separable conv: {filters} output channels; it needs at least 1")
        (kh, kw), (sh, sw) = pair(kernel), pair(stride)
        shape, pads = self._window(x, (kh, kw), (sh, sw), padding, "separable conv")
        weights = {
            "depthwise_kernel": self._weight(name, "depthwise_kernel", (kh, kw, 1, c), "depthwise_kernel",
                                             ext_shape=(kh, kw, c, 1), fans=(kh * kw * c, kh * kw)),
            "pointwise_kernel": self._weight(name, "pointwise_kernel", (1, 1, c, filters), "kernel",
                                             fans=(c, filters)),
        }
        if bias:
            weights["bias"] = self._weight(name, "bias", (filters,), "bias")
        attrs = {"kernel_size": (kh, kw), "strides": (sh, sw), "padding": padding, "pads": pads}
        return self._add(DEF.name, [x], shape[:3] + (filters,), name, attrs, weights)
