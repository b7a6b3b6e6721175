"""Unique names: the IR's node names and each backend's own namespaces share this one rule."""
from __future__ import annotations


class UniqueNames:
    """A namespace that hands out ``base``, then ``base_1``, ``base_2``... for repeats."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        return name
