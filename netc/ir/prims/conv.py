"""conv: 2-D convolution, grouped or depthwise; kernel (kh, kw, cin/groups, cout) HWIO, optional bias."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np, weight
from netc.ir.prims._window import WINDOW_ATTRS, check_window, grouped_conv
from netc.ir.shapes import pair


def _run(node, xs, weights):
    """Cross-correlation as in TF."""
    k = weight(node, "kernel", weights).astype(np.float64)
    acc = grouped_conv(node, xs[0].astype(np.float64), k, node.attrs.get("groups", 1))
    if "bias" in node.weights:
        acc = acc + weight(node, "bias", weights)
    return acc.astype(ftype(xs[0]))


def _check(n) -> str | None:
    x, y = n.inputs[0], n.out
    groups = n.attrs["groups"]
    kh, kw = n.attrs["kernel_size"]
    want = (kh, kw, x.channels // groups, y.channels)
    k = n.weights["kernel"].shape
    if x.channels % groups or y.channels % groups:
        return f"{x.channels} -> {y.channels} channels do not divide into {groups} groups"
    if k != want:
        return f"kernel shape {k}, expected {want}"
    if "bias" in n.weights and n.weights["bias"].shape != (y.channels,):
        return f"bias shape {n.weights['bias'].shape}, expected ({y.channels},)"
    return check_window(n)


def _macs(n) -> int:
    _, h, w, c = n.out.shape
    if h is None or w is None:
        return 0
    kh, kw, cin_g, _ = n.weights["kernel"].shape
    return h * w * c * kh * kw * cin_g


DEF = PrimDef("conv", "2-D convolution; attrs: kernel_size, strides (h, w), padding, pads, groups", (1, 1), _run,
              ranks=(4,), attrs=(*WINDOW_ATTRS, "groups"), weights=("kernel",),
              roles={"kernel": ("kernel", "depthwise_kernel"), "bias": ("bias",)}, check=_check, macs=_macs)


class Build:
    def conv(self, x, filters: int, kernel, stride=1, padding: str = "same", groups: int = 1,
             bias: bool = False, name: str = "conv"):
        """Conv2D (groups=1) or grouped conv; ``kernel`` and ``stride`` an int or an (h, w) pair; kernel layout
        HWIO with I = cin / groups."""
        cin = x.channels
        if filters < 1:
            raise self.error(f"conv: {filters} output channels; a convolution needs at least 1 (a width scale "
                             f"or ratio too small?)")
        if cin % groups or filters % groups:
            raise self.error(f"conv: {cin} input and {filters} output channels are not divisible "
                             f"into {groups} groups")
        (kh, kw), (sh, sw) = pair(kernel), pair(stride)
        shape, pads = self._window(x, (kh, kw), (sh, sw), padding, "conv")
        shape = shape[:3] + (filters,)
        cin_g = cin // groups
        fans = (kh * kw * cin_g, kh * kw * filters)
        weights = {"kernel": self._weight(name, "kernel", (kh, kw, cin_g, filters), "kernel", fans=fans)}
        if bias:
            weights["bias"] = self._weight(name, "bias", (filters,), "bias")
        attrs = {"kernel_size": (kh, kw), "strides": (sh, sw), "padding": padding, "pads": pads, "groups": groups}
        return self._add(DEF.name, [x], shape, name, attrs, weights)

    def depthwise(self, x, kernel, stride=1, padding: str = "same", name: str = "depthwise_conv",
                  bias: bool = False):
        """Depthwise conv (multiplier 1); stored (kh, kw, 1, C), saved as Keras' (kh, kw, C, 1)."""
        c = x.channels
        (kh, kw), (sh, sw) = pair(kernel), pair(stride)
        shape, pads = self._window(x, (kh, kw), (sh, sw), padding, "depthwise conv")
        fans = (kh * kw * c, kh * kw)
        weights = {"kernel": self._weight(name, "depthwise_kernel", (kh, kw, 1, c), "depthwise_kernel",
                                          ext_shape=(kh, kw, c, 1), fans=fans)}
        if bias:
            weights["bias"] = self._weight(name, "bias", (c,), "bias")
        attrs = {"kernel_size": (kh, kw), "strides": (sh, sw), "padding": padding, "pads": pads, "groups": c}
        return self._add(DEF.name, [x], shape, name, attrs, weights)
