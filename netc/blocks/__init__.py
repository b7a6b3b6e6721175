"""Every built-in entry of the registry. Importing this package registers them."""
from netc.blocks import (activations, arguments, conv, depthwise, efficientnet, head, inputs,  # noqa: F401
                         inverted_residual, norm, ops, padding, pooling, repvgg, resample, residual)
from netc.blocks import spinenet  # noqa: F401  (after arguments: it registers its own codes)
from netc.registry import REGISTRY

__all__ = ["REGISTRY"]
