"""Modules of the modular YAML form in the semantic pass: the type's lookup, the kwargs' typed check, and
a built-in (or plugin) block type used as a module (its kwargs are its argument codes: `k: 3` is `k3`)."""
from __future__ import annotations

from typing import Any

from netc import ast
from netc.diagnostics import NetcError, Span, did_you_mean
from netc.registry import KWARG_TYPES, ModuleType, Registry


def module_type(reg: Registry, blk: ast.Block) -> ModuleType | None:
    """The registered module ``blk`` names (None for a layer block type); an unknown type is an error that
    lists what is registered."""
    if blk.code in reg.modules:
        return reg.modules[blk.code]
    if blk.code in reg.blocks or blk.code in reg.ops:
        return None
    known = list(reg.modules) + list(reg.blocks) + list(reg.ops)
    notes = [f"modules: {', '.join(reg.modules) or 'none (install a plugin or pass --plugin FILE.py)'}",
             f"block types (kwargs are their argument codes): {', '.join(reg.blocks)}",
             f"ops (on the `prev` modules' tensors): {', '.join(o for o in reg.ops if o != 'select')}"]
    raise NetcError(f"unknown module type `{blk.code}`{did_you_mean(blk.code, known)}", blk.code_span, notes=notes)


def _type_name(value: Any, depth: int = 0) -> str:
    """The YAML type of a kwarg for messages: items looked at two levels deep, and once per distinct object
    (a nested alias would otherwise be walked exponentially often)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        if depth >= 2:
            return "list"
        seen: dict[int, str] = {}
        for v in value:
            if id(v) not in seen:
                seen[id(v)] = _type_name(v, depth + 1)
        kinds = sorted(set(seen.values()))
        return f"list[{'|'.join(kinds)}]" if kinds else "list"
    return {int: "int", float: "float", str: "str", dict: "mapping", type(None): "null"}.get(type(value),
                                                                                          type(value).__name__)


def _expected(mt: ModuleType) -> str:
    return ", ".join(f"{k}: {a.type}{'' if a.required else f' = {a.default!r}'}" for k, a in mt.kwargs.items()) \
        or "none"


def decode_kwargs(mt: ModuleType, blk: ast.Block) -> tuple[dict[str, Any], dict[str, Span]]:
    """The kwargs of a module use, checked against its declared ones: unknown, missing, wrongly typed."""
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    takes = f"`{mt.name}` takes: {_expected(mt)}"
    for key, value, kspan, vspan, items in blk.kwargs:
        decl = mt.kwargs.get(key)
        if decl is None:
            raise NetcError(f"module `{mt.name}` takes no kwarg `{key}`{did_you_mean(key, mt.kwargs)}", kspan,
                            notes=[takes])
        if not decl.accepts(value) and decl.type.startswith("list[") and isinstance(value, list):
            item_type = decl.type[5:-1]
            for v, at in zip(value, items):
                if not KWARG_TYPES[item_type](v):
                    raise NetcError(f"kwarg `{key}` of `{mt.name}` must be {decl.type}: this item is "
                                    f"{_type_name(v)} `{v!r}`, not {item_type}", at, notes=[takes])
        if not decl.accepts(value):
            raise NetcError(f"kwarg `{key}` of `{mt.name}` must be {decl.type}, found {_type_name(value)} "
                            f"`{value!r}`", vspan, notes=[takes])
        values[key], spans[key] = value, vspan
    missing = [k for k, a in mt.kwargs.items() if a.required and k not in values]
    if missing:
        raise NetcError(f"module `{mt.name}` needs kwarg{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(f'`{k}` ({mt.kwargs[k].type})' for k in missing)}", blk.code_span,
                        notes=[takes])
    for k, a in mt.kwargs.items():
        values.setdefault(k, a.default)
    _check_module(mt, values, spans, blk)
    return values, spans


def _check_module(mt: ModuleType, values: dict[str, Any], spans: dict[str, Span], blk: ast.Block) -> None:
    """A module type's own ``check`` of its kwargs (always a plugin's: netc has no built-in module), through
    the plugins' one guard; its NetcErrors without a place are put at the module's `type:`."""
    from netc.plugins import guarded_call
    try:
        guarded_call(None, f"the plugin module `{mt.name}` failed in `check()`", blk.code_span, mt.check, values,
                     spans, plugin_entry=True)
    except NetcError as err:
        for d in err.diagnostics:
            if d.span is None:
                d.span = blk.code_span
        raise


def as_layer_block(blk: ast.Block, kind: str = "layer") -> ast.Block:
    """A block type (or with ``kind`` "op", an op on the `prev` tensors) used as a module: its kwargs become argument tokens (`c: 64` -> `c64`, `bn: true` -> `bn`),
    each located at its kwarg's name."""
    args = []
    for key, value, kspan, vspan, _ in blk.kwargs:
        if value is True:
            args.append(ast.ArgToken(key, kspan))
        elif value is False or value is None:
            continue
        elif isinstance(value, (int, float, str)):
            args.append(ast.ArgToken(f"{key}{value}", kspan, vspan))
        else:
            raise NetcError(f"`{key}`: a block type's argument is a number, a word or a flag, found "
                            f"{_type_name(value)}", vspan)
    text = "_".join([blk.code, *(a.text for a in args)])
    if kind == "op":
        text += ":"
    return ast.Block(text, blk.span, kind, blk.code, blk.code_span, args=tuple(args))


__all__ = ["KWARG_TYPES", "as_layer_block", "decode_kwargs", "module_type"]
