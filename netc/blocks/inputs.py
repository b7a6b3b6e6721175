"""Input ops (`img#norm1`): applied to a raw input, cast to float32."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY


@REGISTRY.input_op("norm1", "x / 128 - 1")
def norm1(b: Builder, x: Value) -> Value:
    return b.affine(x, 1.0 / 128.0, -1.0, name="norm1")


@REGISTRY.input_op("norm05", "x / 256 - 0.5")
def norm05(b: Builder, x: Value) -> Value:
    return b.affine(x, 1.0 / 256.0, -0.5, name="norm05")
