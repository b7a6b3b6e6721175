"""Argument codes of layer blocks (NOTATION.md section 2)."""
from netc.registry import REGISTRY, WordKind

REGISTRY.arg("r", "int", "repeats", limit="repeats")
REGISTRY.arg("k", "int", "kernel size", limit="kernel")
REGISTRY.arg("s", "int", "stride", limit="stride")
REGISTRY.arg("c", "int", "output channels", limit="channels")
REGISTRY.arg("e", "ratio", "expansion ratio")
REGISTRY.arg("se", "int", "squeeze-excite reduction factor", limit="channels")
REGISTRY.arg("n", "act", "activation")
REGISTRY.arg("bn", "flag", "batch norm")
REGISTRY.arg("pad", WordKind("valid", "same"), "padding")
