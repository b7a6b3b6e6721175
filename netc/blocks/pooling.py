"""Pooling blocks: `avgpool`, `maxpool` (VALID)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param

_POOL_PARAMS = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=None)}


@REGISTRY.block
class AvgPool(BlockType):
    """Average pooling k x k, stride s (default k), VALID; channels unchanged."""

    code = "avgpool"
    doc = "average pooling (VALID)"
    params = _POOL_PARAMS

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.pool("avg", x, a.k, a.s or a.k, "valid", name="pool")


@REGISTRY.block
class MaxPool(BlockType):
    """Max pooling k x k, stride s (default k), VALID; channels unchanged."""

    code = "maxpool"
    doc = "max pooling (VALID)"
    params = _POOL_PARAMS

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.pool("max", x, a.k, a.s or a.k, "valid", name="pool")
