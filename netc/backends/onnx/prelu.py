"""PReLU's ONNX forms: the bit-exact form chosen from the compile-time slopes, and two kept for benchmarks."""
from __future__ import annotations

from typing import Callable

import numpy as np

from netc.backends import nchw
from netc.backends.onnx.emit import Emitter
from netc.ir.graph import Node


def prelu_form(slope: np.ndarray) -> str:
    """The fastest ONNX form that computes PRelu(x, slope) bit for bit on onnxruntime for every x (signed
    zeros, infinities and NaN included), chosen from the compile-time slopes (measured order: docs/benchmarks.md).
    It depends on the set of slopes only, not on their order (the IR's HWC slopes give the NCHW tensor's form):

    - one slope (the same bits) for every element: ``leaky``, LeakyRelu(alpha), PRelu's formula; onnxruntime
      fuses it into the Conv before it;
    - all slopes in (0, 1]: ``max``, Max(x, x * s): for x < 0, x * s lies between x and 0, for x > 0 below x;
      -0 * s is -0. A zero slope is left out (+inf * 0 is NaN);
    - all slopes in [1, inf): ``min``, Min(x, x * s), by the mirror argument;
    - otherwise ``prelu``, ONNX's PRelu op: the general forms built of standard ops are no faster on
      onnxruntime and not bit-exact (its Where, and any sum of two halves, turn a -0 result into +0).
    """
    s = np.asarray(slope, dtype=np.float32).ravel(order="K")   # no copy of a contiguous array in any layout
    bits = s.view(np.uint32)
    if s.size == 0 or bool(np.all(bits == bits[0])):   # bits: -0.0 and 0.0 are two slopes
        return "leaky"
    if bool(np.all((s > 0) & (s <= 1))):
        return "max"
    if bool(np.all((s >= 1) & np.isfinite(s))):
        return "min"
    return "prelu"


def emit_prelu(em: Emitter, node: Node) -> None:
    """PReLU in the form :func:`prelu_form` picks (or the emitter's ``prelu_form`` option); slopes are NCHW
    (C, H, W)."""
    alpha = em.weight(node, "alpha")
    slope = nchw.prelu_slope(alpha)   # (H, W, C) -> (C, H, W); (C,) as is
    form = em.prelu_form or prelu_form(alpha)   # the IR's (H, W, C) as it is: the form needs no copy
    if form not in _PRELU_EMITTERS:
        raise ValueError(f"unknown PReLU form {form!r} (expected one of {', '.join(PRELU_FORMS)})")
    _PRELU_EMITTERS[form](em, node, em.xin(node), em.out(node), slope)


def _prelu_op(em: Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    em.add("PRelu", [x, em.init(node.weights["alpha"].name, slope)], out, node)


def _prelu_leaky(em: Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    alpha = float(slope.flat[0]) if slope.size else 0.0
    em.add("LeakyRelu", [x], out, node, alpha=alpha)


def _prelu_minmax(op: str) -> Callable[[Emitter, Node, str, str, np.ndarray], None]:
    def emit(em: Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
        scaled = em.temp(node, "scaled")
        em.add("Mul", [x, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
        em.add(op, [x, scaled], out, node)
    emit.__doc__ = f"{op}(x, x * slope)."
    return emit


def _prelu_where(em: Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    """Where(x < 0, x * s, x): PRelu's definition, but onnxruntime's Where returns +0 for a -0 it selects."""
    negative, scaled = em.temp(node, "negative"), em.temp(node, "scaled")
    em.add("Less", [x, em.scalar(0.0)], negative, node, "less")
    em.add("Mul", [x, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
    em.add("Where", [negative, scaled, x], out, node)


def _prelu_relu_min(em: Emitter, node: Node, x: str, out: str, slope: np.ndarray) -> None:
    """Relu(x) + s * Min(x, 0): equal in value, but the sign of a zero result can differ (benchmarks only)."""
    pos, neg, scaled = em.temp(node, "relu"), em.temp(node, "min0"), em.temp(node, "scaled")
    em.add("Relu", [x], pos, node, "relu")
    em.add("Min", [x, em.scalar(0.0)], neg, node, "min")
    em.add("Mul", [neg, em.init(node.weights["alpha"].name, slope)], scaled, node, "mul")
    em.add("Add", [pos, scaled], out, node)


_PRELU_EMITTERS = {"prelu": _prelu_op, "leaky": _prelu_leaky, "max": _prelu_minmax("Max"),
                   "min": _prelu_minmax("Min"), "where": _prelu_where, "relu_min": _prelu_relu_min}
#: PReLU forms: those :func:`prelu_form` chooses ("prelu" is ONNX's own PRelu op), and two general forms kept
#: for the benchmark's comparison only ("where", "relu_min": not bit-exact, see their docstrings).
PRELU_FORMS = tuple(_PRELU_EMITTERS)
