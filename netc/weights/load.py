"""Trained weights for a checked spec: dispatch on the file kind, and bind named arrays to IR weights.

Both readers (``checkpoint.py``, ``npz.py``) produce a :class:`Source`; :func:`bind` maps it onto the
spec's weights so that every weight is found once and every variable is used once, with shapes checked.
Names and layouts are described in docs/weights.md.
"""
from __future__ import annotations

import difflib
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable

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


def load_weights(checked: CheckedModel, path: str | os.PathLike, weights_map: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` from a netc ``.npz``, a TF checkpoint, or a Keras model
    (``.keras``, ``.weights.h5``, legacy ``.h5``, SavedModel directory; paired by structure, pinned by
    the YAML ``weights_map``), as float32 arrays in IR layout."""
    p = os.fspath(path)
    from netc.weights.keras_source import is_keras_source
    if is_keras_source(p):
        from netc.weights.keras_match import load_keras_weights
        return load_keras_weights(checked, p, weights_map)
    if weights_map is not None:
        raise NetcError(f"a weights map (`{weights_map}`) pairs a Keras model's layers; `{p}` is not a Keras "
                        f"model (.keras, .weights.h5, .h5 or a SavedModel directory)")
    if _is_npz(p):
        from netc.weights.npz import load_npz
        return load_npz(checked, p)
    from netc.weights.checkpoint import load_checkpoint
    return load_checkpoint(checked, p)


def _is_npz(path: str) -> bool:
    if path.lower().endswith(".npz"):
        return True
    if not os.path.isfile(path) or path.endswith(".index") or ".data-" in os.path.basename(path):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


# ------------------------------------------------------------------ binding
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
