"""ResNet residual blocks: `res` (basic, two 3x3) and `bt` (bottleneck 1x1-3x3-1x1).

Both add a shortcut to the main path, then apply the activation. The shortcut is the input itself, or a
projection (1x1 conv, stride s, + BN) when the shape changes (channels differ or s > 1), as in Keras
ResNet50's first block of each stage. Convolutions have no bias unless `bias` (Keras ResNet: `bias`);
BN epsilon 1e-3 and momentum 0.99 unless `eps` / `mom` (Keras ResNet: `eps1.001e-5`).
"""
from __future__ import annotations

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Activation, Args, BlockType, Param


def conv_bn(b: Builder, x: Value, c: int, k: int, s: int, a: Args, name: str, groups: int = 1) -> Value:
    """Conv (SAME, bias if `bias`) + BN, named ``{name}_conv`` / ``{name}_bn``."""
    y = b.conv(x, c, k, s, "same", groups=groups, bias=a.bias, name=f"{name}_conv")
    return b.batchnorm(y, f"{name}_bn", epsilon=a.eps, momentum=a.mom)


def _act(b: Builder, act: Activation, y: Value, name: str) -> Value:
    return act.lower(b, y, name)


def shortcut(b: Builder, x: Value, c: int, s: int, a: Args) -> Value:
    """The input, or its 1x1 stride-s projection + BN when the shape changes."""
    if x.channels == c and s == 1:
        return x
    return conv_bn(b, x, c, 1, s, a, "shortcut")


_COMMON = {"r": Param(default=1), "k": Param(default=3), "s": Param(default=1), "c": Param(required=True),
           "g": Param(default=1), "bias": Param(default=False), "eps": Param(default=1e-3, below=1.0),
           "mom": Param(default=0.99, below=1.0), "n": Param()}


def _activation(a: Args) -> Activation:
    return a.n if a.n is not None else REGISTRY.activations["re"]


@REGISTRY.block
class BasicResidual(BlockType):
    """k x k conv stride s + BN + act, k x k conv + BN; + shortcut; act (ReLU unless `n`). Groups `g`."""

    code = "res"
    doc = "ResNet basic residual block"
    params = dict(_COMMON)

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        act = _activation(a)
        short = shortcut(b, x, a.c, a.s, a)
        y = conv_bn(b, x, a.c, a.k, a.s, a, "conv1", a.g)
        y = _act(b, act, y, "conv1_act")
        y = conv_bn(b, y, a.c, a.k, 1, a, "conv2", a.g)
        y = b.add(short, y, name="add")
        return _act(b, act, y, "out")


@REGISTRY.block
class Bottleneck(BlockType):
    """1x1 conv stride s to ``round(c * e)`` (`e` default 0.25) + BN + act, k x k conv (groups `g`) + BN + act,
    1x1 conv to c + BN; + shortcut; act (ReLU unless `n`). The stride sits on the first 1x1 (Keras ResNet50)."""

    code = "bt"
    doc = "ResNet bottleneck residual block"
    params = {**_COMMON, "e": Param(default=0.25)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        act = _activation(a)
        mid = max(1, round(a.c * a.e))
        short = shortcut(b, x, a.c, a.s, a)
        y = conv_bn(b, x, mid, 1, a.s, a, "conv1")
        y = _act(b, act, y, "conv1_act")
        y = conv_bn(b, y, mid, a.k, 1, a, "conv2", a.g)
        y = _act(b, act, y, "conv2_act")
        y = conv_bn(b, y, a.c, 1, 1, a, "conv3")
        y = b.add(short, y, name="add")
        return _act(b, act, y, "out")
