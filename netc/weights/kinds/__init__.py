"""Weighted kinds: ONE file per kind of weighted op (conv, bn, prelu, dense), each a :class:`Kind`.

A kind says everything the weight import needs to know about it: the IR prim it comes from and its signature
(what must agree between spec and source), the Keras weight roles in the order a Keras layer holds them (the
single table of Keras roles: :data:`ROLES`), the Keras classes it reads, the class names a weights-only file
uses, how a weights-only layer's shapes are recognised, and the words of its messages. A new weighted prim is
one new file here plus its entry in :data:`KINDS`.
"""
from __future__ import annotations

from typing import Any

from netc.weights.kinds.kind import Kind, Sig  # noqa: F401 (the record, re-exported)
from netc.weights.kinds import bn, conv, dense, layernorm, normalization, prelu, scale

KINDS: dict[str, Kind] = {k.name: k for k in (conv.KIND, bn.KIND, prelu.KIND, dense.KIND, layernorm.KIND,
                                              normalization.KIND, scale.KIND)}
# The Keras weight roles of each kind (the single table; the Keras backend and the IR may read it too).
ROLES: dict[str, tuple[str, ...]] = {k.name: k.roles for k in KINDS.values()}
BN_ROLES: tuple[str, ...] = bn.KIND.roles
FILE_NAMES: dict[str, str] = {n: c for k in KINDS.values() for n, c in k.file_names.items()}
TYPE_HINTS: tuple[tuple[str, str], ...] = tuple(h for k in KINDS.values() for h in k.hints)


def kind_of_prim(prim: str) -> Kind | None:
    """The kind an IR prim's weights pair as (None: a prim netc cannot pair with a Keras model)."""
    return next((k for k in KINDS.values() if prim in k.prims), None)


def kind_of_node(node: Any) -> Kind | None:
    """The kind an IR node's weights pair as: one prim may be several kinds (the channel-wise affine is a
    BatchNormalization, a Normalization or a layer scale; a dense layer on an image is a 1x1 conv)."""
    prim = getattr(node.prim, "value", node.prim)
    return next((k for k in KINDS.values() if prim in k.prims and (k.claims is None or k.claims(node))), None)


def recognise(shapes: list[tuple[int, ...]]) -> Kind | None:
    """The kind a weights-only layer's array shapes fit (in KINDS order), or None."""
    return next((k for k in KINDS.values() if k.recognise and k.recognise(shapes)), None)
