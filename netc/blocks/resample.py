"""`resize`: upsampling by any integer factor, bilinear or nearest (`up_x2:` is the bilinear x2 op)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class Resize(BlockType):
    """H x W -> fH x fW; `ibilinear` (half-pixel centres, `tf.image.resize`; default) or `inearest`."""

    code = "resize"
    doc = "resize by an integer factor"
    params = {"f": Param(default=2), "i": Param(default="bilinear")}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.resize(x, a.f, a.i, name="resize")
