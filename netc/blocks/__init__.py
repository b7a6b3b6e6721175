"""Every built-in entry of the registry. Importing this package registers them."""
from netc.blocks import activations, arguments, conv, inputs, inverted_residual, ops, pooling  # noqa: F401
from netc.blocks import spinenet  # noqa: F401  (after arguments: it registers its own codes)
from netc.registry import REGISTRY

__all__ = ["REGISTRY"]
