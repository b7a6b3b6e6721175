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


class KernelKind(ArgKind):
    """A kernel size: `k3` (square, an int) or `k1x7` (height x width, a pair)."""

    name = "kernel"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        m = re.fullmatch(r"-?(\d+)(?:x(\d+))?", raw)
        if not m:
            raise NetcError(f"`{spec.code}` needs a kernel size like `3` or `1x7`, found `{raw}`", vspan)
        dims = [int(g) for g in m.groups() if g is not None]
        if raw.startswith("-") or min(dims) < 1:
            raise NetcError(f"`{spec.code}{raw}`: {spec.doc} must be at least 1", vspan)
        for d in dims:
            if d > limits.kernel:
                raise NetcError(f"`{spec.code}{raw}`: {spec.doc} {d} exceeds the limit of {limits.kernel} "
                                f"(raise it with `--limit kernel={d}`)", vspan)
        return dims[0] if len(dims) == 1 or dims[0] == dims[1] else (dims[0], dims[1])

    def example(self, code: str) -> str:
        return f"{code}3"


KERNEL = KernelKind()

REGISTRY.arg("r", "int", "repeats", limit="repeats")
REGISTRY.arg("k", KERNEL, "kernel size")
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
REGISTRY.arg("dc", NUMBER, "drop-connect schedule: copy b of the model's `dc` blocks drops at dc * b / their number")
REGISTRY.arg("kd", "flag", "keep the 1x1 spatial dims")
REGISTRY.arg("gate", WordKind("tf", "keras"), "squeeze-excite gate scale: tf 0.16667, keras 1/6")
REGISTRY.arg("nobias", "flag", "a convolution with neither bias nor batch norm")
REGISTRY.arg("noscale", "flag", "batch norm without scale (gamma)")
REGISTRY.arg("top", "int", "zero padding (or cropping) at the top", limit="kernel")
REGISTRY.arg("bot", "int", "zero padding (or cropping) at the bottom", limit="kernel")
REGISTRY.arg("left", "int", "zero padding (or cropping) on the left", limit="kernel")
REGISTRY.arg("right", "int", "zero padding (or cropping) on the right", limit="kernel")
REGISTRY.arg("sc", "ratio", "scale of a residual branch (InceptionResNet), or a rescaling factor")
REGISTRY.arg("fixc", "flag", "`c` is not scaled by the spec's width (a classifier's classes)")
