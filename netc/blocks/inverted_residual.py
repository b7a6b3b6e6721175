"""MobileNetV3-style inverted residual `ir`, and `cn2` (three chained `ir`, concatenated)."""
from __future__ import annotations

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Activation, Args, BlockType, Param


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round to a multiple of 8, at least 8, never more than 10% below ``v`` (tf_netbuilder's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


GATE_SCALE = {"tf": 0.16667, "keras": 1.0 / 6.0}   # tf_netbuilder's rounded constant; Keras MobileNetV3's 1/6


def squeeze_excite(b: Builder, x: Value, se: int, gate: str = "tf") -> Value:
    """Global mean -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> relu6(x + 3) * scale -> multiply, where
    scale is 0.16667 (tf_netbuilder, ``gate="tf"``) or 1/6 (Keras MobileNetV3, ``gate="keras"``)."""
    chs = x.channels
    with b.scope("se"):
        s = b.global_avgpool(x, name="pool")
        s = b.conv(s, make_divisible(chs / se), 1, bias=True, name="squeeze")
        s = b.relu(s, None, name="squeeze_act")
        s = b.conv(s, chs, 1, bias=True, name="excite")
        s = b.affine(s, 1.0, 3.0, name="gate_shift")
        s = b.relu(s, 6.0, name="gate_relu6")
        s = b.affine(s, GATE_SCALE[gate], 0.0, name="gate_scale")
        return b.mul(x, s, name="scale")


def inverted_residual(b: Builder, x: Value, k: int, s: int, e: float, c: int,
                      se: int | None, act: Activation | None, momentum: float = 0.99, gate: str = "tf",
                      epsilon: float = 1e-3, pad: int | None = None) -> Value:
    """Expand (only when the width grows), depthwise (TF SAME, or zero padding ``pad`` on every side then VALID:
    PyTorch's symmetric padding), SE, project, residual when shapes allow."""
    cin = x.channels
    mids = make_divisible(cin * e)
    y = x
    if mids > cin:
        y = b.conv(y, mids, 1, bias=False, name="expansion_conv")
        y = b.batchnorm(y, "expansion_bn", epsilon=epsilon, momentum=momentum)
        if act is not None:
            y = act.lower(b, y, "expansion_act")
    padding = "same"
    if pad is not None:
        y, padding = b.pad(y, (pad,) * 4, name="depthwise_pad"), "valid"
    y = b.depthwise(y, k, s, padding, name="depthwise_conv")
    y = b.batchnorm(y, "depthwise_bn", epsilon=epsilon, momentum=momentum)
    if act is not None:
        y = act.lower(b, y, "depthwise_act")
    if se is not None:
        y = squeeze_excite(b, y, se, gate)
    y = b.conv(y, c, 1, bias=False, name="projection_conv")
    y = b.batchnorm(y, "projection_bn", epsilon=epsilon, momentum=momentum)
    if cin == c and s == 1:
        y = b.add(y, x, name="residual")
    return y


@REGISTRY.block
class InvertedResidual(BlockType):
    """1x1 expand + BN + act (if wider), depthwise k x k + BN + act, optional SE, 1x1 project + BN, residual.
    BN epsilon 1e-3 and momentum 0.99 unless `eps` / `mom` (Keras MobileNetV2/V3: `mom0.999`); SE gate scale
    `gatetf` (0.16667, default) or `gatekeras` (1/6); `p` pads the depthwise by p on every side, then VALID
    (torchvision: `p1` for k3, `p2` for k5)."""

    code = "ir"
    doc = "inverted residual (MobileNetV3)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "e": Param(default=1.0), "c": Param(required=True), "se": Param(), "n": Param(),
              "mom": Param(default=0.99, below=1.0), "gate": Param(default="tf"),
              "eps": Param(default=1e-3, below=1.0), "p": Param()}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return inverted_residual(b, x, a.k, a.s, a.e, a.c, a.se, a.n, a.mom, a.gate, a.eps, a.p)


@REGISTRY.block
class SmallerConv7x7(BlockType):
    """Three `ir` (k3, s1, c // 3 each) chained; the output concatenates the three (3 * (c // 3) channels)."""

    code = "cn2"
    doc = "three chained 3x3 inverted residuals, concatenated"
    params = {"r": Param(default=1), "k": Param(ignored=True), "s": Param(ignored=True),
              "e": Param(default=1.0), "c": Param(required=True), "se": Param(), "n": Param()}
    stride_arg = None

    def warnings(self, a: Args):
        out = []
        if a.c % 3:
            out.append((f"`c{a.c}` is not divisible by 3: `cn2` outputs 3 x {a.c // 3} = {3 * (a.c // 3)} channels",
                        a.span("c")))
        return out

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        if a.c < 3:
            raise b.error(f"`cn2` needs at least 3 output channels (c // 3 per branch), found c{a.c}")
        outs = []
        y = x
        for i in (1, 2, 3):
            with b.scope(f"conv{i}"):
                y = inverted_residual(b, y, 3, 1, a.e, a.c // 3, a.se, a.n)
            outs.append(y)
        return b.concat(outs, name="concat")
