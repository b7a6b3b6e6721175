"""The framework-neutral IR: a DAG of primitive ops over channels-last tensors of any rank, weights kept apart.

Shapes are logical channels-last tuples: ``(N, H, W, C)`` for images, ``(N, C)`` for features, with
``None`` for the batch and for any dynamic size; a value's rank is ``len(shape)``. Weight layouts
follow Keras (kernels HWIO, dense (in, out)), so they match tf_netbuilder checkpoints; backends
convert to their own layouts. Backends know only :class:`Prim`; every block of the notation lowers
to these, and :mod:`netc.ir.verify` holds each primitive's contract.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from netc.diagnostics import Span


class Prim(str, enum.Enum):
    """Primitive ops. Each has one meaning, defined by the numpy interpreter (ir/interp.py)."""

    INPUT = "input"                  # attrs: name
    AFFINE = "affine"                # x * scale + offset (float32 scalars); attrs: scale, offset
    CONV = "conv"                    # weights: kernel (kh,kw,cin/groups,cout)[, bias]; attrs below
    BATCHNORM = "batchnorm"          # weights: gamma, beta, moving_mean, moving_variance; attrs: epsilon, momentum
    RELU = "relu"                    # attrs: max_value (None or float)
    HARDSWISH = "hardswish"          # x * relu6(x + 3) / 6
    SWISH = "swish"                  # x * sigmoid(x)
    SIGMOID = "sigmoid"
    PRELU = "prelu"                  # weights: alpha (H,W,C) or (1,1,C)
    ADD = "add"                      # two or more inputs, broadcasting
    MUL = "mul"                      # two inputs, broadcasting
    CONCAT = "concat"                # channel (last) axis
    RESIZE = "resize"                # attrs: scale (sh, sw), mode ("bilinear" half-pixel | "nearest")
    AVGPOOL = "avgpool"              # attrs: kernel_size, strides, padding, pads
    MAXPOOL = "maxpool"              # attrs: kernel_size, strides, padding, pads
    GLOBAL_AVGPOOL = "global_avgpool"  # mean over H, W; attrs: keepdims (N,1,1,C) or (N,C)
    PAD = "pad"                      # zero padding of H, W; attrs: pads (top, left, bottom, right)
    FLATTEN = "flatten"              # (N, H, W, C) -> (N, H*W*C), row-major in NHWC order
    DENSE = "dense"                  # (N, I) -> (N, O); weights: kernel (I, O)[, bias (O,)]
    SOFTMAX = "softmax"              # over the last axis
    DROPOUT = "dropout"              # identity at inference; attrs: rate (a Dropout layer when trained)


class PrimGroup:
    """Families of primitives that passes and backends match on."""

    UNARY = frozenset({Prim.AFFINE, Prim.RELU, Prim.HARDSWISH, Prim.SWISH, Prim.SIGMOID, Prim.PRELU,
                       Prim.BATCHNORM, Prim.SOFTMAX, Prim.DROPOUT})
    ELEMENTWISE = frozenset({Prim.AFFINE, Prim.RELU, Prim.HARDSWISH, Prim.SWISH, Prim.SIGMOID, Prim.PRELU,
                             Prim.BATCHNORM, Prim.DROPOUT, Prim.ADD, Prim.MUL})
    MULTI_INPUT = frozenset({Prim.ADD, Prim.MUL, Prim.CONCAT})
    WINDOW = frozenset({Prim.CONV, Prim.AVGPOOL, Prim.MAXPOOL})
    WEIGHTED = frozenset({Prim.CONV, Prim.BATCHNORM, Prim.PRELU, Prim.DENSE})
    SPATIAL = frozenset({Prim.CONV, Prim.AVGPOOL, Prim.MAXPOOL, Prim.RESIZE, Prim.PAD, Prim.GLOBAL_AVGPOOL,
                         Prim.FLATTEN})


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
    role: str                       # kernel | depthwise_kernel | bias | gamma | beta | moving_mean | moving_variance | alpha
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
        """Multiply-accumulates of one batch element (convolutions and dense layers; 0 where shapes are
        dynamic)."""
        if self.prim is Prim.CONV:
            _, h, w, c = self.out.shape
            if h is None or w is None:
                return 0
            kh, kw, cin_g, _ = self.weights["kernel"].shape
            return h * w * c * kh * kw * cin_g
        if self.prim is Prim.DENSE:
            i, o = self.weights["kernel"].shape
            return i * o
        return 0


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
