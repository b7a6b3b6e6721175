"""The framework-neutral IR: a DAG of primitive ops over channels-last tensors of any rank, weights kept apart.

Shapes are logical channels-last tuples: ``(N, H, W, C)`` for images, ``(N, C)`` for features, with
``None`` for the batch and for any dynamic size; a value's rank is ``len(shape)``. Weight layouts
follow Keras (kernels HWIO, dense (in, out)), so they match tf_netbuilder checkpoints; backends
convert to their own layouts. Backends know only :class:`Prim`; every block of the notation lowers
to these; each primitive's file under :mod:`netc.ir.prims` holds its contract, semantics and MACs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from netc.diagnostics import Span
from netc.ir.prims import DEFS, Prim

__all__ = ["Graph", "Node", "Origin", "Prim", "Shape", "Value", "Weight"]


Shape = tuple  # (N, H, W, C) or (N, C), entries int or None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a node comes from: the spec block that produced it."""

    span: Span | None
    stack: str            # "backbone"
    block: str            # "c3" or "layer_4" (the original's naming)
    text: str             # the block string as written
    path: str = ""        # scope of the node inside its block, "c3/se/squeeze"


@dataclass(frozen=True, slots=True)
class Weight:
    """A parameter tensor. ``name`` is its checkpoint-style path, e.g. ``backbone/c3/se/squeeze/kernel``."""

    name: str
    shape: tuple[int, ...]          # IR layout
    role: str                       # an init rule of netc.ir.weights: kernel, bias, gamma, count...
    ext_shape: tuple[int, ...]      # layout in tf_netbuilder checkpoints and netc .npz files
    trainable: bool = True
    fans: tuple[int, int] = (0, 0)  # (fan_in, fan_out) as Keras computes them for glorot init

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(eq=False, slots=True)
class Value:
    """A tensor produced by one node."""

    id: int
    shape: Shape
    name: str
    producer: "Node | None" = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def spatial(self) -> tuple:
        """(H, W) of an image value; () for a rank-2 feature value."""
        return tuple(self.shape[1:-1])

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Value({self.name}, {self.shape})"


@dataclass(eq=False, slots=True)
class Node:
    prim: Prim
    inputs: tuple[Value, ...]
    out: Value
    name: str
    origin: Origin
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Weight] = field(default_factory=dict)

    def macs(self) -> int:
        """Multiply-accumulates of one batch element (0 where shapes are dynamic or the primitive has none)."""
        fn = DEFS[self.prim].macs
        return fn(self) if fn is not None else 0


@dataclass
class Graph:
    """A lowered model: nodes in topological order, named inputs and outputs."""

    nodes: list[Node] = field(default_factory=list)
    inputs: list[Value] = field(default_factory=list)
    outputs: list[tuple[str, Value]] = field(default_factory=list)
    name: str = "netc_model"

    @property
    def weights(self) -> list[Weight]:
        return [w for n in self.nodes for w in n.weights.values()]

    def param_count(self) -> int:
        return sum(w.size for w in self.weights)

    def consumers(self) -> dict[int, list[Node]]:
        uses: dict[int, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                uses.setdefault(v.id, []).append(n)
        return uses
