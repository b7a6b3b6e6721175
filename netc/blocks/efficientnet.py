"""EfficientNet's MBConv, `mb`, as keras.applications.EfficientNet builds it (its `block`)."""
from __future__ import annotations

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.ir.shapes import pair, same_pads
from netc.registry import REGISTRY, Activation, Args, BlockType, Param


def keras_pad(b: Builder, x: Value, k, name: str = "pad") -> tuple[Value, str]:
    """Keras' ZeroPadding2D(correct_pad) before a VALID stride-2 window: at a static size exactly TF SAME's
    pads, so the spec holds the same layers as the reference; at a dynamic size the window pads SAME."""
    _, h, w, _ = x.shape
    if h is None or w is None:
        return x, "same"
    (kh, kw) = pair(k)
    _, t, bo = same_pads(h, kh, 2)
    _, l, r = same_pads(w, kw, 2)
    return b.pad(x, (t, l, bo, r), name=name), "valid"


def squeeze_excite_swish(b: Builder, x: Value, squeeze: int, act: Activation) -> Value:
    """EfficientNet's SE: global mean, 1x1 conv (bias) to ``squeeze`` + the block's activation, 1x1 conv (bias)
    back + sigmoid, multiply."""
    with b.scope("se"):
        s = b.global_avgpool(x, name="squeeze")
        s = b.conv(s, squeeze, 1, bias=True, name="reduce")
        s = act.lower(b, s, "reduce_act")
        s = b.conv(s, x.channels, 1, bias=True, name="expand")
        s = b.sigmoid(s, name="expand_act")
        return b.mul(x, s, name="excite")


@REGISTRY.block
class MBConv(BlockType):
    """1x1 expansion to `in * e` + BN + act (only when `e` > 1); depthwise k x k stride s + BN + act (stride 2:
    Keras' zero padding, then VALID); squeeze-excite to `max(1, int(in / se))` from the block's *input* width,
    with the activation, and a sigmoid gate (`se0`: none); 1x1 projection to `c` + BN; when stride 1 and in ==
    c, a per-sample dropout of rate `dr` (drop-connect: identity at inference, a Dropout layer with noise shape
    (N, 1, 1, 1) in the Keras training form; `dc`: Keras' schedule, netc/semantic/schedule.py) and the residual
    add. Activation swish unless `n`; BN epsilon 1e-3,
    momentum 0.99 unless `eps`/`mom`."""

    code = "mb"
    doc = "EfficientNet MBConv (expand, depthwise, squeeze-excite, project)"
    params = {"r": Param(default=1), "k": Param(default=3), "s": Param(default=1), "e": Param(default=1.0),
              "c": Param(required=True), "se": Param(default=4), "dr": Param(below=1.0), "dc": Param(below=1.0),
              "n": Param(),
              "eps": Param(default=1e-3, below=1.0), "mom": Param(default=0.99, below=1.0), "pad": Param()}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        act = a.n or REGISTRY.activations["sw"]
        cin = x.channels
        mids = int(round(cin * a.e))
        y = x
        if a.e != 1:
            y = b.conv(y, mids, 1, bias=False, name="expand_conv")
            y = b.batchnorm(y, "expand_bn", epsilon=a.eps, momentum=a.mom)
            y = act.lower(b, y, "expand_act")
        padding = a.pad or "same"
        if a.s == 2 and a.pad is None:
            y, padding = keras_pad(b, y, a.k, "dwconv_pad")
        y = b.depthwise(y, a.k, a.s, padding, name="dwconv")
        y = b.batchnorm(y, "bn", epsilon=a.eps, momentum=a.mom)
        y = act.lower(b, y, "act")
        if a.se:
            y = squeeze_excite_swish(b, y, max(1, int(cin / a.se)), act)
        y = b.conv(y, a.c, 1, bias=False, name="project_conv")
        y = b.batchnorm(y, "project_bn", epsilon=a.eps, momentum=a.mom)
        return _residual(b, a, y, x)


def _residual(b: Builder, a: Args, y: Value, x: Value) -> Value:
    if a.s == 1 and x.channels == a.c:
        if a.dr:
            y = b.dropout(y, a.dr, name="drop", per_sample=True)
        y = b.add(y, x, name="add")
    return y


@REGISTRY.block
class FusedMBConv(BlockType):
    """EfficientNetV2's fused MBConv: with `e` > 1, a k x k conv stride s to `in * e` + BN + act, squeeze-excite
    (`se`, from the input width; none unless given), a 1x1 projection to `c` + BN; with `e1`, one k x k conv
    stride s to `c` + BN + act. SAME padding, no biases; the residual (and per-sample dropout `dr`) as `mb`. BN
    momentum 0.9 and epsilon 1e-3 unless `mom`/`eps`; activation swish unless `n`."""

    code = "fmb"
    doc = "EfficientNetV2 fused MBConv"
    params = {"r": Param(default=1), "k": Param(default=3), "s": Param(default=1), "e": Param(default=1.0),
              "c": Param(required=True), "se": Param(), "dr": Param(below=1.0), "dc": Param(below=1.0), "n": Param(),
              "eps": Param(default=1e-3, below=1.0), "mom": Param(default=0.9, below=1.0)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        act = a.n or REGISTRY.activations["sw"]
        cin = x.channels
        if a.e == 1:
            y = b.conv(x, a.c, a.k, a.s, "same", bias=False, name="project_conv")
            y = b.batchnorm(y, "project_bn", epsilon=a.eps, momentum=a.mom)
            return _residual(b, a, act.lower(b, y, "project_act"), x)
        y = b.conv(x, int(round(cin * a.e)), a.k, a.s, "same", bias=False, name="expand_conv")
        y = b.batchnorm(y, "expand_bn", epsilon=a.eps, momentum=a.mom)
        y = act.lower(b, y, "expand_act")
        if a.se:
            y = squeeze_excite_swish(b, y, max(1, int(cin / a.se)), act)
        y = b.conv(y, a.c, 1, 1, "same", bias=False, name="project_conv")
        y = b.batchnorm(y, "project_bn", epsilon=a.eps, momentum=a.mom)
        return _residual(b, a, y, x)
