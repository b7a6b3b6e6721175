"""Classifier-head blocks: `gap`, `flatten`, `fc`, `softmax`, `dropout`, and `act` (a lone activation)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class GlobalAvgPool(BlockType):
    """Mean over H and W: (N, C), or (N, 1, 1, C) with `kd` (Keras' keepdims=True)."""

    code = "gap"
    doc = "global average pooling"
    params = {"kd": Param(default=False)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.global_avgpool(x, name="pool", keepdims=a.kd)


@REGISTRY.block
class Flatten(BlockType):
    """(N, H, W, C) -> (N, H*W*C) in NHWC order (Keras' Flatten); needs a static size."""

    code = "flatten"
    doc = "flatten to a feature vector"
    params = {}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.flatten(x, name="flatten")


@REGISTRY.block
class Dense(BlockType):
    """Fully connected layer on (N, I) to `c` units, with bias; activation if `n`."""

    code = "fc"
    doc = "fully connected (dense) layer with bias"
    params = {"r": Param(default=1), "c": Param(required=True), "n": Param()}
    stride_arg = None
    example_rank = 2
    scales_width = False   # `c` is the number of classes

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        b._need_rank(x, 2, "dense")
        y = b.dense(x, a.c, bias=True, name="dense")
        return y if a.n is None else a.n.lower(b, y, "act")


@REGISTRY.block
class DenseAnyRank(BlockType):
    """Keras Dense on the last axis of any tensor (on an image: a 1x1 convolution, as ConvNeXt's pointwise
    layers), to `c` units with bias; activation if `n`; `c` scales with the spec's width."""

    code = "dense"
    doc = "dense layer on the channel axis of any tensor"
    params = {"r": Param(default=1), "c": Param(required=True), "n": Param()}
    stride_arg = None

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        y = b.dense(x, a.c, bias=True, name="dense")
        return y if a.n is None else a.n.lower(b, y, "act")


@REGISTRY.block
class Softmax(BlockType):
    """Softmax over the last (channel) axis."""

    code = "softmax"
    doc = "softmax over channels"
    params = {}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.softmax(x, name="softmax")


@REGISTRY.block
class Dropout(BlockType):
    """Dropout of rate `dr` (below 1): identity at inference, a Dropout layer in the Keras model."""

    code = "dropout"
    doc = "dropout (identity at inference)"
    params = {"dr": Param(required=True, below=1.0)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.dropout(x, a.dr, name="dropout")


@REGISTRY.block
class Act(BlockType):
    """The activation `n` alone (`act_nsg` is a sigmoid)."""

    code = "act"
    doc = "activation"
    params = {"n": Param(required=True)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return a.n.lower(b, x, "act")
