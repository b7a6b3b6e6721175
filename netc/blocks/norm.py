"""Normalisation blocks on their own: `bn` (BatchNormalization + activation, as pre-activation networks use it),
`ln` (LayerNormalization)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class BatchNormAct(BlockType):
    """BatchNormalization (epsilon 1e-3, momentum 0.99 unless `eps`/`mom`; `noscale`: no gamma), then the
    activation if `n`: ResNetV2's and DenseNet's pre-activation."""

    code = "bn"
    doc = "batch norm (+ activation)"
    params = {"r": Param(default=1), "eps": Param(default=1e-3, below=1.0), "mom": Param(default=0.99, below=1.0),
              "noscale": Param(default=False), "n": Param()}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        y = b.batchnorm(x, "bn", epsilon=a.eps, momentum=a.mom, scale=not a.noscale)
        return y if a.n is None else a.n.lower(b, y, "act")


@REGISTRY.block
class LayerNorm(BlockType):
    """LayerNormalization over the channels (epsilon 1e-3 unless `eps`), then the activation if `n`."""

    code = "ln"
    doc = "layer normalization (+ activation)"
    params = {"r": Param(default=1), "eps": Param(default=1e-3, below=1.0), "n": Param()}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        y = b.layernorm(x, "ln", epsilon=a.eps)
        return y if a.n is None else a.n.lower(b, y, "act")
