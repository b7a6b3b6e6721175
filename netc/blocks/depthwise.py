"""Depthwise and separable convolution blocks: `dw` (DepthwiseConv2D + BN + act), `sep` (SeparableConv2D + BN +
act), as Keras MobileNet, Xception and NASNet write them."""
from netc.blocks.conv import conv_bn_act, conv_warnings
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param

_COMMON = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1), "p": Param(),
           "pad": Param(default="same"), "bn": Param(default=False), "bias": Param(default=False),
           "nobias": Param(default=False), "noscale": Param(default=False), "eps": Param(default=1e-3, below=1.0),
           "mom": Param(default=0.99, below=1.0), "n": Param()}


@REGISTRY.block
class DepthwiseBnAct(BlockType):
    """DepthwiseConv2D k x k (multiplier 1), stride s, SAME (`padvalid`, `p` as `cn`); bias only without `bn` (or
    with `bias`; never with `nobias`); BN (epsilon 1e-3, momentum 0.99 unless `eps`/`mom`); activation if `n`."""

    code = "dw"
    doc = "depthwise convolution (+ batch norm) (+ activation)"
    params = dict(_COMMON)

    def warnings(self, a: Args) -> list:
        return conv_warnings(a)

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return conv_bn_act(b, a, x, lambda y, padding, bias: b.depthwise(y, a.k, a.s, padding, name="conv",
                                                                          bias=bias))


@REGISTRY.block
class SeparableBnAct(BlockType):
    """SeparableConv2D (depthwise k x k stride s, then 1x1 to `c`) as one layer; padding, bias, BN and activation
    as `dw`."""

    code = "sep"
    doc = "separable convolution (+ batch norm) (+ activation)"
    params = {**_COMMON, "c": Param(required=True)}

    def warnings(self, a: Args) -> list:
        return conv_warnings(a)

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return conv_bn_act(b, a, x, lambda y, padding, bias: b.sepconv(y, a.c, a.k, a.s, padding, bias=bias,
                                                                        name="conv"))
