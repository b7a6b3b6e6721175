"""SpineNet's pieces (seed 003, TF Model Garden): the scale-permuted block `spblk`, the fusion op `spfuse`,
and `cbn` (conv, BN, activation with SpineNet's BN momentum 0.99).

Levels: a tensor at level `l` is ``ceil(H / 2**l)`` of the model's (first) input. A block's width is
``F = int(FILTER_SIZE[l] * fs)``; a bottleneck outputs ``4 F``, a residual block ``F``.
"""
from __future__ import annotations

import math

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, ArgKind, Args, BlockType, NetcError, Param, WordKind

FILTER_SIZE = {1: 32, 2: 64, 3: 128, 4: 256, 5: 256, 6: 256, 7: 256}
EXPANSION = {"b": 4, "r": 1}
BN = dict(epsilon=1e-3, momentum=0.99)


class KindsKind(ArgKind):
    """A word of `b` (bottleneck) and `r` (residual) letters, one per resampled parent: `pkbr`."""

    name = "kinds"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        bad = next((ch for ch in raw if ch not in EXPANSION), None)
        if bad is not None:
            raise NetcError(f"`{spec.code}` takes one letter per parent, `b` (bottleneck) or `r` (residual), "
                            f"found `{bad}` in `{raw}`", vspan)
        return raw

    def example(self, code: str) -> str:
        return f"{code}bb"


REGISTRY.arg("l", "int", "feature level (1/2^l of the input)")
REGISTRY.arg("t", WordKind("b", "r"), "block kind: b bottleneck, r residual")
REGISTRY.arg("fs", "ratio", "filter size scale")
REGISTRY.arg("al", "ratio", "resampling alpha")
REGISTRY.arg("pk", KindsKind(), "kinds of the resampled parents (b bottleneck, r residual)")

_LEVEL = Param(required=True, lo=1, hi=max(FILTER_SIZE))


def filters(level: int, scale: float) -> int:
    """The seed's ``int(FILTER_SIZE_MAP[level] * filter_size_scale)``."""
    return int(FILTER_SIZE[level] * scale)


def level_size(b: Builder, level: int) -> int:
    """Spatial size of level ``level`` for the model's first input: ``ceil(H / 2**level)``."""
    h = b.graph.inputs[0].shape[1] if b.graph.inputs else None
    if h is None:
        raise b.error("a SpineNet level needs a static input size (the level's size is ceil(H / 2^level))")
    return int(math.ceil(h / 2 ** level))


def conv_bn(b: Builder, x: Value, c: int, k: int = 1, s: int = 1, act: bool = True, name: str = "") -> Value:
    """Conv k x k stride s (SAME, no bias), BN (eps 1e-3, momentum 0.99), ReLU if ``act``."""
    y = b.conv(x, c, k, s, "same", bias=False, name=f"{name}conv")
    y = b.batchnorm(y, f"{name}bn", **BN)
    return b.relu(y, None, f"{name}relu") if act else y


@REGISTRY.block
class ConvBn(BlockType):
    """Conv2D k x k, stride s, SAME, no bias; BN (epsilon 1e-3, momentum 0.99); activation if `n`."""

    code = "cbn"
    doc = "convolution + batch norm (momentum 0.99) (+ activation)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "c": Param(required=True), "n": Param()}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        y = b.conv(x, a.c, a.k, a.s, "same", bias=False, name="conv")
        y = b.batchnorm(y, "bn", **BN)
        return a.n.lower(b, y, "act") if a.n is not None else y


@REGISTRY.block
class SpineBlock(BlockType):
    """One bottleneck (`tb`: 1x1 F, 3x3 F, 1x1 4F) or residual (`tr`: 3x3 F, 3x3 F) unit with BN and ReLU,
    a projection shortcut (1x1 conv + BN) when the input width differs, add, ReLU. `r` stacks units."""

    code = "spblk"
    doc = "SpineNet bottleneck / residual unit"
    params = {"r": Param(default=1), "l": _LEVEL, "t": Param(required=True), "fs": Param(default=1.0)}
    stride_arg = None

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        f = filters(a.l, a.fs)
        out = f * EXPANSION[a.t]
        shortcut = x
        if x.channels != out:
            shortcut = conv_bn(b, x, out, act=False, name="shortcut_")
        if a.t == "b":
            y = conv_bn(b, x, f, name="1_")
            y = conv_bn(b, y, f, k=3, name="2_")
            y = conv_bn(b, y, out, act=False, name="3_")
        else:
            y = conv_bn(b, x, f, k=3, name="1_")
            y = conv_bn(b, y, f, k=3, act=False, name="2_")
        return b.relu(b.add(y, shortcut, name="add"), None, "out")


def resample(b: Builder, x: Value, kind: str, alpha: float, size: int, out: int) -> Value:
    """The seed's resampling: 1x1 conv-BN-ReLU to ``int(alpha * C')`` (C' = C / 4 for a bottleneck parent),
    down by a 3x3 s2 conv-BN-ReLU then 3x3 s2 SAME max pools, or up by nearest upsampling; 1x1 conv-BN."""
    c_prime = x.channels / 4 if kind == "b" else x.channels
    mid = int(c_prime * alpha)
    if mid < 1:
        raise b.error(f"resampling alpha {alpha:g} leaves int({alpha:g} x {c_prime:g}) = 0 channels")
    y = conv_bn(b, x, mid, name="reduce_")
    src = x.shape[1]
    if src > size:
        y = conv_bn(b, y, mid, k=3, s=2, name="down_")
        width = src / 2
        while width > size:
            y = b.pool("max", y, 3, 2, "same", name="pool")
            width /= 2
    elif src < size:
        if size % src:
            raise b.error(f"cannot upsample {src}x{src} to {size}x{size} by an integer factor")
        y = b.resize(y, size // src, "nearest", name="upsample")
    return conv_bn(b, y, out, act=False, name="proj_")


@REGISTRY.op("spfuse", "SpineNet fusion: resample each `pk` parent to level `l` and the width of a `t` block, "
             "add the others (or all, without `pk`) as they are, sum, activation `n`", min_inputs=1,
             params={"l": _LEVEL, "t": Param(required=True), "fs": Param(default=1.0),
                     "al": Param(default=0.5), "pk": Param(default=""), "n": Param()})
def spine_fuse(b: Builder, xs: list[Value], names: list[str], a: Args) -> Value:
    if len(a.pk) > len(xs):
        raise NetcError(f"`pk{a.pk}` names {len(a.pk)} parents to resample, but the op has {len(xs)} tensors",
                        a.span("pk"))
    size = level_size(b, a.l)
    out = filters(a.l, a.fs) * EXPANSION[a.t]
    parts = []
    for i, (x, kind) in enumerate(zip(xs, a.pk)):
        b._need_rank(x, 4, "spfuse")
        with b.scope(f"in{i}"):
            parts.append(resample(b, x, kind, a.al, size, out))
    parts += xs[len(a.pk):]
    for x, n in zip(parts[len(a.pk):], names[len(a.pk):]):
        if x.shape[1:] != (size, size, out):
            raise b.error(f"spfuse: `{n}` is added unresampled but is {x.shape[1]}x{x.shape[2]}x{x.shape[3]}, "
                          f"not the target {size}x{size}x{out}")
    y = b.add_n(parts, name="sum", names=[*(f"resampled {n}" for n in names[:len(a.pk)]), *names[len(a.pk):]]) \
        if len(parts) > 1 else parts[0]
    return a.n.lower(b, y, "act") if a.n is not None else y
