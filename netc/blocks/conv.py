"""Plain convolution blocks: `cn` (ConvBnAct) and `hd` (head)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class ConvBnAct(BlockType):
    """Conv2D k x k, stride s, SAME; bias only without `bn`; BN (momentum 0.999); activation if `n`."""

    code = "cn"
    doc = "convolution (+ batch norm) (+ activation)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "c": Param(required=True), "bn": Param(default=False), "n": Param()}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        y = b.conv(x, a.c, a.k, a.s, "same", bias=not a.bn, name="conv")
        if a.bn:
            y = b.batchnorm(y, "bn", epsilon=1e-3, momentum=0.999)
        if a.n is not None:
            y = a.n.lower(b, y, "act")
        return y


@REGISTRY.block
class Head(BlockType):
    """Plain Conv2D k x k, stride s, VALID, no bias, no activation; kernel directly under the block."""

    code = "hd"
    doc = "head convolution (VALID, no bias)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "c": Param(required=True)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.conv(x, a.c, a.k, a.s, "valid", bias=False, name="")
