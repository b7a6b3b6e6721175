"""Argument codes of layer blocks (NOTATION.md section 2, docs/notation.md)."""
from __future__ import annotations

import re

from netc.diagnostics import NetcError
from netc.registry import REGISTRY, ArgKind, WordKind


class NumberKind(ArgKind):
    """A decimal number > 0, exponent allowed: `eps1.001e-5`, `mom0.99`, `dr0.2`."""

    name = "number"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        if not re.fullmatch(r"(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?", raw):
            raise NetcError(f"`{spec.code}` needs a decimal number like `0.99` or `1e-5`, found `{raw}`", vspan)
        value = float(raw)
        if value <= 0.0:
            raise NetcError(f"`{spec.code}{raw}`: {spec.doc} must be greater than 0", vspan)
        return value

    def example(self, code: str) -> str:
        return f"{code}0.5"


NUMBER = NumberKind()

REGISTRY.arg("r", "int", "repeats", limit="repeats")
REGISTRY.arg("k", "int", "kernel size", limit="kernel")
REGISTRY.arg("s", "int", "stride", limit="stride")
REGISTRY.arg("c", "int", "output channels", limit="channels")
REGISTRY.arg("e", "ratio", "expansion ratio")
REGISTRY.arg("se", "int", "squeeze-excite reduction factor", limit="channels")
REGISTRY.arg("n", "act", "activation")
REGISTRY.arg("bn", "flag", "batch norm")
REGISTRY.arg("pad", WordKind("valid", "same"), "padding")
REGISTRY.arg("g", "int", "groups of a grouped convolution", limit="channels")
REGISTRY.arg("p", "int", "explicit zero padding on every side, then VALID", limit="kernel")
REGISTRY.arg("bias", "flag", "convolution bias even before a batch norm")
REGISTRY.arg("eps", NUMBER, "batch norm epsilon")
REGISTRY.arg("mom", NUMBER, "batch norm momentum")
REGISTRY.arg("f", "int", "resize factor", limit="stride")
REGISTRY.arg("i", WordKind("bilinear", "nearest"), "resize interpolation")
REGISTRY.arg("dr", NUMBER, "dropout rate")
REGISTRY.arg("kd", "flag", "keep the 1x1 spatial dims")
REGISTRY.arg("gate", WordKind("tf", "keras"), "squeeze-excite gate scale: tf 0.16667, keras 1/6")
