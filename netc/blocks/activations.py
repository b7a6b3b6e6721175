"""Activation codes for the `n` argument."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY


@REGISTRY.activation("re", "ReLU")
def relu(b: Builder, x: Value, name: str) -> Value:
    return b.relu(x, None, name)


@REGISTRY.activation("r6", "ReLU6")
def relu6(b: Builder, x: Value, name: str) -> Value:
    return b.relu(x, 6.0, name)


@REGISTRY.activation("hs", "hard-swish x*relu6(x+3)/6")
def hard_swish(b: Builder, x: Value, name: str) -> Value:
    return b.hardswish(x, name)


@REGISTRY.activation("sw", "swish x*sigmoid(x)")
def swish(b: Builder, x: Value, name: str) -> Value:
    return b.swish(x, name)


@REGISTRY.activation("pre", "PReLU, one alpha per H x W x C element (tf_netbuilder/Keras default)")
def prelu(b: Builder, x: Value, name: str) -> Value:
    return b.prelu(x, name, per_channel=False)


@REGISTRY.activation("prc", "PReLU, one alpha per channel (netc extension)")
def prelu_channel(b: Builder, x: Value, name: str) -> Value:
    return b.prelu(x, name, per_channel=True)


@REGISTRY.activation("sg", "sigmoid")
def sigmoid(b: Builder, x: Value, name: str) -> Value:
    return b.sigmoid(x, name)


@REGISTRY.activation("ge", "GELU, exact x * (1 + erf(x / sqrt 2)) / 2")
def gelu(b: Builder, x: Value, name: str) -> Value:
    return b.gelu(x, name)
