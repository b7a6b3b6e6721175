"""The registry: block types, argument codes, ops, input ops and activations, one entry each.

A block type is one class (arguments, validation, lowering to IR primitives); its output shape,
parameter count and MACs follow from the lowering. Adding a block touches no backend.

Modules: :mod:`.limits` (``--limit`` bounds), :mod:`.kinds` (argument kinds), :mod:`.entries` (entry types),
:mod:`.registry` (the tables and decoding). :data:`REGISTRY` holds the built-ins (netc/blocks/).
"""
from __future__ import annotations

from netc.diagnostics import NetcError
from netc.registry.entries import (KWARG_TYPES, Activation, ArgCode, Args, BlockType, InputOp, Kwarg, ModuleType,
                                   OpType, Param)
from netc.registry.kinds import KINDS, ActKind, ArgKind, FlagKind, IntKind, RatioKind, WordKind
from netc.registry.limits import Limits
from netc.registry.registry import MAX_DIGITS, Registry, RegistryClash

__all__ = ["KINDS", "KWARG_TYPES", "MAX_DIGITS", "REGISTRY", "ActKind", "Activation", "ArgCode", "ArgKind", "Args",
           "BlockType", "FlagKind", "InputOp", "IntKind", "Kwarg", "Limits", "ModuleType", "NetcError", "OpType",
           "Param", "RatioKind", "Registry", "RegistryClash", "WordKind"]

REGISTRY = Registry()
