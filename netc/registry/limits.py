"""The bounds a spec cannot pass without a flag (`--limit NAME=VALUE`)."""
from __future__ import annotations

from dataclasses import dataclass

from netc.diagnostics import NetcError, did_you_mean


@dataclass(frozen=True)
class Limits:
    """Bounds a spec cannot exceed without a flag (`--limit NAME=VALUE`)."""

    repeats: int = 1000
    channels: int = 65536
    kernel: int = 255
    stride: int = 255
    input_size: int = 16384
    expansion: int = 1000      # ratio arguments (`e`)
    params: int = 500_000_000
    nodes: int = 50_000         # IR nodes; lowering runs at about 25k nodes a second

    def raised(self, name: str, value: int) -> "Limits":
        if name not in self.__dataclass_fields__:
            raise NetcError(f"unknown limit `{name}`{did_you_mean(name, self.__dataclass_fields__)}; "
                            f"limits: {', '.join(self.__dataclass_fields__)}")
        return Limits(**{**self.__dict__, name: value})
