"""Bind named arrays to a spec's IR weights: every weight found once, every variable used once, shapes checked.

The readers of named variables (``checkpoint.py``, ``npz.py``) produce a :class:`Source`; :func:`bind` maps it
onto the spec's weights. :func:`block_of` is how every weights message names a block. Names and layouts are
described in docs/weights.md.
"""
from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from netc.diagnostics import Diagnostic, NetcError, Span
from netc.ir.graph import Node, Weight
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel

MAX_PROBLEMS = 10


@dataclass
class Source:
    """Named arrays in a weights file: shapes known up front, values read on demand."""

    path: str
    kind: str                                  # "checkpoint" or ".npz file", used in messages
    shapes: dict[str, tuple[int, ...]]         # variable name -> shape (bookkeeping already dropped)
    read: Callable[[str], np.ndarray]          # variable name -> array (raises NetcError)
    handle: Any = None                         # the open file (a TF checkpoint reader), for other readers


def expected_weights(checked: CheckedModel) -> dict[str, tuple[Weight, Node]]:
    """The spec's weights by name, each with the node (and so the block) that owns it."""
    return {w.name: (w, node) for node in checked.graph.nodes for w in node.weights.values()}


def find_prefix(names: list[str], expected: set[str]) -> str:
    """The leading path that, stripped from the most variable names, leaves names the spec expects."""
    votes: Counter[str] = Counter()
    for name in names:
        parts = name.split("/")
        for i in range(len(parts)):
            if "/".join(parts[i:]) in expected:
                votes["/".join(parts[:i])] += 1
    if not votes:
        return ""
    return min(votes, key=lambda p: (-votes[p], p.count("/"), p))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def block_of(node: Node) -> str:
    """``block `c3` of `backbone#` (`c3#ir_r3_k5_s2_e3_c40_se4_nre`)``: how messages name a block."""
    o = node.origin
    where = f"block `{o.block}` of `{o.stack}#`" if o.stack else f"input `{o.block}#`"
    return f"{where} (`{o.text}`)"


def _shape(s: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def bind(checked: CheckedModel, src: Source) -> WeightValues:
    """Map ``src`` onto the spec's weights; every weight found once, every variable used once, shapes equal."""
    expected = expected_weights(checked)
    prefix = find_prefix(list(src.shapes), set(expected))
    found, problems = 0, []
    missing: list[tuple[str, Weight, Node]] = []
    for name, (w, node) in expected.items():
        key = _join(prefix, name)
        shape = src.shapes.get(key)
        if shape is None:
            missing.append((key, w, node))
            continue
        found += 1
        if tuple(shape) != tuple(w.ext_shape):
            problems.append(_shape_problem(src, key, tuple(shape), w, node))
    used = {_join(prefix, n) for n in expected}
    leftovers = [k for k in src.shapes if k not in used]
    if missing and found < len(expected) / 2:
        raise _mismatch(src, prefix, found, expected, missing, leftovers)
    problems[:0] = [Diagnostic(f"{src.kind} variable `{key}` is missing: {block_of(node)} needs it, "
                               f"shape {_shape(w.ext_shape)}", node.origin.span) for key, w, node in missing]
    problems += [_leftover(checked, src, prefix, key, expected) for key in leftovers]
    if problems:
        raise _collected(problems, src)
    return {name: _value(src, _join(prefix, name), w, node) for name, (w, node) in expected.items()}


def _value(src: Source, key: str, w: Weight, node: Node) -> np.ndarray:
    try:
        arr = np.asarray(src.read(key))
    except NetcError as err:  # a damaged file: point at the block whose variable could not be read
        raise NetcError(err.message, node.origin.span, notes=[f"{block_of(node)} needs it"]) from None
    if not (np.issubdtype(arr.dtype, np.floating) or arr.dtype.name == "bfloat16"):
        raise NetcError(f"{src.kind} variable `{key}` holds {arr.dtype} values; {block_of(node)} needs floats",
                        node.origin.span)
    return np.ascontiguousarray(arr, dtype=np.float32).reshape(w.shape)


def _shape_problem(src: Source, key: str, shape: tuple[int, ...], w: Weight, node: Node) -> Diagnostic:
    notes = []
    if w.role == "depthwise_kernel" and shape == tuple(w.shape) and w.shape != w.ext_shape:
        notes.append("depthwise kernels are stored as (kh, kw, C, 1), not (kh, kw, 1, C): see docs/weights.md")
    if w.role == "alpha" and len(shape) == len(w.ext_shape) == 3 and shape[-1] == w.ext_shape[-1]:
        notes.append("a PReLU (`npre`) has one alpha per H x W x C element, so its size follows the input size: "
                     "declare the input size the weights were trained at")
    return Diagnostic(f"{src.kind} variable `{key}` has shape {_shape(shape)}, but {block_of(node)} "
                      f"expects {_shape(w.ext_shape)}", node.origin.span, notes=notes)


def _leftover(checked: CheckedModel, src: Source, prefix: str, key: str,
              expected: dict[str, tuple[Weight, Node]]) -> Diagnostic:
    rel = key[len(prefix) + 1:] if prefix and key.startswith(prefix + "/") else key
    close = difflib.get_close_matches(rel, list(expected), n=1, cutoff=0.6)
    msg = f"{src.kind} variable `{key}` {_shape(src.shapes[key])} is not used by the spec"
    span = _stack_span(checked, rel.split("/")[0])
    if close:
        name = close[0]
        node = expected[name][1]
        msg += f"; did you mean `{_join(prefix, name)}` of {block_of(node)}?"
        span = node.origin.span
    return Diagnostic(msg, span)


def _stack_span(checked: CheckedModel, stack: str) -> Span | None:
    for st in checked.stacks:
        if st.name.rstrip("#") == stack:
            return st.span
    return None


def _collected(problems: list[Diagnostic], src: Source) -> NetcError:
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown[-1].notes.append(f"{len(problems) - MAX_PROBLEMS} more problems with `{src.path}` not shown")
    return NetcError(diagnostics=shown)


def _mismatch(src: Source, prefix: str, found: int, expected: dict[str, tuple[Weight, Node]],
              missing: list[tuple[str, Weight, Node]], leftovers: list[str]) -> NetcError:
    """One error for a file of another model, rather than hundreds of missing variables."""
    key, _, node = missing[0]
    where = f" under `{prefix}/`" if prefix else ""
    notes = [f"first missing: `{key}` for {block_of(node)}"]
    if leftovers:
        notes.append(f"the {src.kind} holds {len(src.shapes)} variables, {len(leftovers)} not used by the spec, "
                     f"e.g. " + ", ".join(f"`{k}`" for k in sorted(leftovers)[:3]))
    elif not src.shapes:
        notes.append(f"the {src.kind} holds no weight variables")
    return NetcError(f"{src.kind} `{src.path}` does not match the spec: {found} of {len(expected)} variables "
                     f"found{where} (is it another model's?)", node.origin.span, notes=notes)
