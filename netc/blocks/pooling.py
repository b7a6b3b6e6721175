"""Pooling blocks: `avgpool`, `maxpool` (VALID)."""
from typing import ClassVar

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


class _Pool(BlockType):
    """k x k pooling, stride s (default k), VALID (`padsame`: SAME); zero padding `p` on every side first
    (Keras ResNet's ZeroPadding2D before its max pool); channels unchanged."""

    kind: ClassVar[str]
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=None), "p": Param(),
              "pad": Param(default="valid")}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        if a.p is not None:
            x = b.pad(x, (a.p,) * 4, name="pad")
        return b.pool(self.kind, x, a.k, a.s or a.k, a.pad, name="pool")


@REGISTRY.block
class AvgPool(_Pool):
    code, kind, doc = "avgpool", "avg", "average pooling (VALID)"


@REGISTRY.block
class MaxPool(_Pool):
    code, kind, doc = "maxpool", "max", "max pooling (VALID)"
