"""Builder: the API block definitions lower through. Infers shapes and checks operands.

Each primitive's builder method lives in its own file under :mod:`netc.ir.prims` (a ``Build`` mixin); this
module holds what they share: naming, scopes, weights, rank and broadcast checks, and window shapes. Every
method adds primitive nodes, computes their output shapes, and raises a located :class:`NetcError` (at the
block being lowered) when operands do not fit.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

from netc.diagnostics import NetcError
from netc.ir.graph import Graph, Node, Origin, Prim, Value, Weight
from netc.ir.naming import UniqueNames
from netc.ir.prims import BUILD_MIXINS
from netc.ir.shapes import Shape, fmt_hw, fmt_pair, fmt_shape, pair, same_pads, valid_out

__all__ = ["Builder", "fmt_hw", "fmt_shape", "same_pads", "valid_out"]


class _Core:
    """Graph, names and checks shared by every primitive's builder method."""

    def __init__(self, name: str = "netc_model"):
        self.graph = Graph(name=name)
        self._ids = 0
        self._names = UniqueNames()
        self._weight_names: set[str] = set()
        self._scope: list[str] = []
        self.origin = Origin(None, "", "", "")

    @property
    def origin(self) -> Origin:
        """The block being lowered; the semantic pass sets it before each block."""
        return self._origin

    @origin.setter
    def origin(self, origin: Origin) -> None:
        self._origin = origin
        self._prefix: str | None = None   # "stack/block/scope...", made again on first use

    # ----------------------------------------------------------------- plumbing
    def error(self, message: str) -> NetcError:
        return NetcError(message, self.origin.span)

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Nest sublayer names, as the original nests Keras layers (``conv1/expansion_conv``)."""
        self._scope.append(name)
        self._prefix = None
        try:
            yield
        finally:
            self._scope.pop()
            self._prefix = None

    def _path(self, name: str) -> str:
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = "/".join(filter(None, (self._origin.stack, self._origin.block, *self._scope)))
        return f"{prefix}/{name}" if prefix and name else prefix or name

    def _unique(self, name: str) -> str:
        return self._names.unique(name)

    def _add(self, prim: Prim | str, inputs: Sequence[Value], shape: Shape, name: str,
             attrs: dict | None = None, weights: dict[str, Weight] | None = None) -> Value:
        prim = Prim(prim)
        path = self._unique(self._path(name or prim.value))
        self._ids += 1
        out = Value(self._ids, tuple(shape), path)
        o = self._origin
        origin = Origin(o.span, o.stack, o.block, o.text, path)
        node = Node(prim, tuple(inputs), out, path, origin, attrs or {}, weights or {})
        out.producer = node
        self.graph.nodes.append(node)
        return out

    def _weight(self, layer: str, var: str, shape: tuple, role: str, *, ext_shape: tuple | None = None,
                trainable: bool = True, fans: tuple[int, int] = (0, 0)) -> Weight:
        prefix = self._path(layer)
        name = f"{prefix}/{var}"
        if name in self._weight_names:  # a block definition bug, never a user error
            raise AssertionError(f"two weights named {name!r}: give the layers distinct names")
        self._weight_names.add(name)
        return Weight(f"{prefix}/{var}", tuple(shape), role, tuple(ext_shape or shape), trainable, fans)

    # ------------------------------------------------------------------ checks
    def _need_rank(self, x: Value, rank: int, what: str) -> None:
        if x.rank != rank:
            kind = {4: "an image tensor (N x H x W x C)", 2: "a feature tensor (N x C)"}.get(rank, f"rank {rank}")
            raise self.error(f"{what} needs {kind}, but its input is {fmt_shape(x.shape)}"
                             + ("; flatten or pool it first (`flatten`, `gap`)" if rank == 2 else ""))

    def _broadcast(self, a: Value, b: Value, what: str, a_name: str | None, b_name: str | None) -> tuple:
        if a.rank != b.rank:
            an, bn = a_name or a.name, b_name or b.name
            raise self.error(f"{what}: `{an}` is {fmt_shape(a.shape)} but `{bn}` is {fmt_shape(b.shape)}: "
                             f"the ranks differ")
        out = []
        for da, db in zip(a.shape, b.shape):
            if da is None or db is None:
                out.append(None if (da in (None, 1) and db in (None, 1)) else (da if db in (None, 1) else db))
            elif da == db or db == 1:
                out.append(da)
            elif da == 1:
                out.append(db)
            else:
                an, bn = a_name or a.name, b_name or b.name
                raise self.error(f"{what}: shapes do not broadcast: `{an}` is {fmt_shape(a.shape)} "
                                 f"but `{bn}` is {fmt_shape(b.shape)}")
        return tuple(out)

    def _window(self, x: Value, kernel, stride, padding: str, what: str) -> tuple[Shape, tuple | None]:
        """Output shape (channels kept) and static pads of a k x k window at stride s ((h, w) pairs)."""
        self._need_rank(x, 4, what)
        (kh, kw), (sh, sw) = pair(kernel), pair(stride)
        n, h, w, c = x.shape
        if padding == "same":
            oh, pt, pb = same_pads(h, kh, sh)
            ow, pl, pr = same_pads(w, kw, sw)
            pads = None if h is None or w is None else (pt, pl, pb, pr)
        else:
            for size, k in ((h, kh), (w, kw)):
                if size is not None and size < k:
                    raise self.error(f"{what}: kernel {fmt_pair((kh, kw))} is larger than its {fmt_hw(x.shape)} "
                                     f"input (padding VALID, input {fmt_shape(x.shape)})")
            oh, ow = valid_out(h, kh, sh), valid_out(w, kw, sw)
            pads = (0, 0, 0, 0)
        return (n, oh, ow, c), pads

    # ------------------------------------------------------------------ outputs
    def output(self, name: str, v: Value) -> None:
        self.graph.outputs.append((name, v))


class Builder(_Core, *BUILD_MIXINS):
    """Accumulates a :class:`Graph`. The semantic pass sets ``origin`` before lowering each block; the
    methods (``conv``, ``batchnorm``, ``add_n``...) come from the primitives' files."""
