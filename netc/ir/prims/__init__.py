"""The primitives: one file each, found here by name. Adding a primitive is adding a file (plus one entry per
backend table, or a decomposition in :mod:`netc.ir.decompose`).

Each file defines ``DEF`` (:class:`~netc.ir.prims._base.PrimDef`: contract, reference semantics, MACs, weight
roles) and ``Build``, a mixin of the :class:`~netc.ir.builder.Builder` methods that add it. :data:`Prim` is the
enum of their names; :data:`DEFS` maps each member to its definition.
"""
from __future__ import annotations

import enum
import importlib
import pkgutil

from netc.ir.prims._base import PrimDef

_MODULES = [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if not m.name.startswith("_")]

Prim = enum.Enum("Prim", [(m.DEF.name.upper(), m.DEF.name) for m in _MODULES], type=str, module=__name__)
Prim.__doc__ = "Primitive ops; each has one meaning, defined by its file's ``DEF.run`` (netc/ir/prims/)."

DEFS: dict[Prim, PrimDef] = {Prim(m.DEF.name): m.DEF for m in _MODULES}
BUILD_MIXINS: tuple[type, ...] = tuple(m.Build for m in _MODULES if hasattr(m, "Build"))
MODULES = {Prim(m.DEF.name): m for m in _MODULES}

__all__ = ["BUILD_MIXINS", "DEFS", "MODULES", "Prim", "PrimDef"]
