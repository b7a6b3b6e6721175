"""Normalisation blocks on their own: `bn` (BatchNormalization + activation, as pre-activation networks use it),
`ln` (LayerNormalization); in-model preprocessing: `rescale` (Rescaling), `norm` (Normalization with its mean,
variance and count weights)."""
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


@REGISTRY.block
class Rescale(BlockType):
    """x * `sc` (Keras Rescaling, e.g. `rescale_sc1/255`)."""

    code = "rescale"
    doc = "rescaling by a constant (Rescaling)"
    params = {"sc": Param(required=True)}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.affine(x, a.sc, 0.0, name="rescale")


@REGISTRY.block
class Normalize(BlockType):
    """Keras Normalization over the channels with its weights (mean, variance, count: 2C + 1 parameters):
    (x - mean) / max(sqrt(variance), 1e-7)."""

    code = "norm"
    doc = "normalization by stored mean and variance (Normalization)"
    params = {}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.normalization(x, "norm")


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@REGISTRY.block
class ImageNetNorm(BlockType):
    """Keras Normalization by the ImageNet constants (no weights): (x - mean * sc) / (std * sc) per RGB channel,
    mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), `sc` 1 unless given (ConvNeXt: `sc255`); one
    per-channel affine (Rescaling in the Keras model)."""

    code = "imnorm"
    doc = "normalization by the ImageNet mean and std (no weights)"
    example_channels = 3   # the registry-wide test lowers it on an RGB image
    params = {"sc": Param(default=1.0)}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        if x.channels != 3:
            raise b.error(f"imnorm normalizes RGB images, but its input has {x.channels} channels")
        std = [s * a.sc for s in IMAGENET_STD]
        return b.affine(x, [1.0 / s for s in std], [-m * a.sc / s for m, s in zip(IMAGENET_MEAN, std)],
                        name="normalization")


@REGISTRY.block
class LayerScale(BlockType):
    """x * gamma, one gamma per channel (ConvNeXt's LayerScale); a 1x1 depthwise conv in the Keras model."""

    code = "ls"
    doc = "layer scale (x * gamma per channel)"
    params = {}
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.channel_scale(x, "layer_scale")
