"""The registry: one table per kind of entry, registration that refuses clashes, and argument decoding."""
from __future__ import annotations

import difflib
import re
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any

from netc.ast import ArgToken, Block
from netc.diagnostics import NetcError, Span
from netc.registry.entries import (Activation, ArgCode, Args, BlockType, InputOp, Kwarg, ModuleType, OpType,
                                   Param)
from netc.registry.kinds import KINDS, ArgKind, FlagKind
from netc.registry.limits import Limits


class RegistryClash(ValueError):
    """A registration the registry refuses: a name registered twice (a plugin registering `cn`, or two plugins
    the same name), or an entry using what is not registered."""


@dataclass
class Registry:
    arg_codes: dict[str, ArgCode] = field(default_factory=dict)
    blocks: dict[str, BlockType] = field(default_factory=dict)
    ops: dict[str, OpType] = field(default_factory=dict)
    input_ops: dict[str, InputOp] = field(default_factory=dict)
    activations: dict[str, Activation] = field(default_factory=dict)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    # where the plugins of this registry's layer live (files, package folders): code run from there is a plugin's
    plugin_sources: tuple[str, ...] = ()

    def layered(self) -> "Registry":
        """A registry over this one: new entries go to the layer (this one stays as it is), lookups see both.
        One per compilation with plugins, so plugins never leak into the built-ins or into each other."""
        tables = {f: ChainMap({}, getattr(self, f)) for f in self.__dataclass_fields__ if f != "plugin_sources"}
        return Registry(**tables, plugin_sources=self.plugin_sources)

    def _put(self, table: dict, key: str, value: Any, what: str) -> None:
        if key in table:
            builtin = isinstance(table, ChainMap) and any(key in m for m in table.maps[1:])
            raise RegistryClash(f"{what} `{key}` is registered twice"
                                + (" (it is a built-in name: choose another)" if builtin else ""))
        table[key] = value

    def module(self, cls: type[ModuleType]) -> type[ModuleType]:
        """Register a module type of the modular YAML form (usable as a decorator)."""
        for k, v in cls.kwargs.items():
            if not isinstance(v, Kwarg):
                raise RegistryClash(f"module `{cls.name}`: kwarg `{k}` must be a Kwarg")
        for table in (self.blocks, self.ops):
            if cls.name in table:
                raise RegistryClash(f"module `{cls.name}` has the name of a registered block or op")
        self._put(self.modules, cls.name, cls(), "module")
        return cls

    def arg(self, code: str, kind: str | ArgKind, doc: str, limit: str | None = None) -> None:
        """Register an argument code; ``kind`` is an :class:`ArgKind` or the name of a built-in one."""
        kind = KINDS[kind] if isinstance(kind, str) else kind
        self._put(self.arg_codes, code, ArgCode(code, kind, doc, limit), "argument code")

    def block(self, cls: type[BlockType]) -> type[BlockType]:
        """Register a layer block type (usable as a decorator): a BlockType subclass with a ``code``, a ``doc``
        and ``params`` mapping registered argument codes to :class:`Param`."""
        if not (isinstance(cls, type) and issubclass(cls, BlockType)):
            raise RegistryClash(f"reg.block takes a BlockType subclass, not {type(cls).__name__}")
        for attr in ("code", "doc"):
            if not isinstance(getattr(cls, attr, None), str):
                raise RegistryClash(f"block type {cls.__name__} needs a `{attr}` string")
        _check_params(f"block `{cls.code}`", cls.params, self.arg_codes)
        self._put(self.blocks, cls.code, cls(), "block type")
        return cls

    def op(self, code: str, doc: str, min_inputs: int = 1, max_inputs: int | None = None,
           params: dict[str, Param] | None = None):
        """Register an op; with ``params`` it takes arguments and ``fn(b, xs, names, args)``."""
        _check_params(f"op `{code}`", params or {}, self.arg_codes)
        if not (isinstance(min_inputs, int) and min_inputs >= 0) or \
                max_inputs is not None and not (isinstance(max_inputs, int) and max_inputs >= min_inputs):
            raise RegistryClash(f"op `{code}`: inputs from {min_inputs!r} to {max_inputs!r} is no range (a whole "
                                f"number >= 0, and a maximum that is None or at least the minimum)")

        def deco(fn):
            self._put(self.ops, code, OpType(code, doc, min_inputs, max_inputs, fn, dict(params or {})), "op")
            return fn
        return deco

    def input_op(self, code: str, doc: str):
        def deco(fn):
            self._put(self.input_ops, code, InputOp(code, doc, fn), "input op")
            return fn
        return deco

    def activation(self, code: str, doc: str):
        def deco(fn):
            self._put(self.activations, code, Activation(code, doc, fn), "activation")
            return fn
        return deco

    # ---------------------------------------------------------------- decoding
    def split_arg(self, tok: ArgToken) -> tuple[ArgCode, str]:
        """Longest registered code that prefixes the token: `se4` is `se`, `s2` is `s`."""
        best = None
        for code in self.arg_codes:
            if tok.text.startswith(code) and (best is None or len(code) > len(best)):
                best = code
        if best is None:
            if not tok.text:
                raise NetcError("empty argument (two `_` in a row)", tok.span)
            raise NetcError(f"unknown argument `{tok.text}`{self._suggest_arg(tok.text)}",
                            tok.span, notes=[f"argument codes: {', '.join(sorted(self.arg_codes))}"])
        return self.arg_codes[best], tok.text[len(best):]

    def _suggest_arg(self, text: str) -> str:
        """'; did you mean `k3`?' for `K3`, `bm`, `sq4`: the code part (letters) near a registered code;
        '; did you mean `nhs`?' for an activation written without its code `n` (`_hs`, `_relu6`)."""
        act = self._activation_named(text)
        if act is not None:
            return f"; did you mean `n{act}`? (an activation is written `n` + its code)"
        code, value = re.fullmatch(r"([A-Za-z]*)(.*)", text).groups()
        if code.lower() in self.arg_codes:
            return f"; did you mean `{code.lower()}{value}`?"
        close = difflib.get_close_matches(code.lower(), sorted(self.arg_codes), n=1, cutoff=0.5)
        return f"; did you mean `{close[0]}{value}`?" if close and len(code) > 1 else ""

    def _activation_named(self, text: str) -> str | None:
        """The activation code ``text`` names in another spelling: its code in other case (`RE`), or the first
        word of its description (`relu6` for `r6`, `hard-swish` or `hardswish` for `hs`)."""
        low = text.lower()
        if low in self.activations:
            return low
        squash = re.sub(r"[^a-z0-9]", "", low)
        for act in self.activations.values():
            if squash and squash == re.sub(r"[^a-z0-9]", "", act.doc.split()[0].lower().rstrip(",")):
                return act.code
        return None

    def decode_args(self, block: Block, btype: BlockType, limits: Limits) -> tuple[Args, list[tuple[str, Span]]]:
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        warnings = []
        for tok in block.args:
            spec, raw = self.split_arg(tok)
            if spec.code in values:
                first = spans[spec.code]
                raise NetcError(f"argument `{spec.code}` given twice (first at column {first.col})", tok.span)
            param = btype.params.get(spec.code)
            if param is None:
                raise NetcError(f"block `{btype.code}` takes no argument `{spec.code}` ({spec.doc})", tok.span,
                                notes=[f"`{btype.code}` takes: {_param_list(btype)}"])
            values[spec.code] = self._value(spec, raw, tok, limits)
            param.check(spec.code, values[spec.code], spec.doc, tok.span)
            spans[spec.code] = tok.span
            if param.ignored:
                warnings.append((f"`{tok.text}` is ignored by `{btype.code}`", tok.span))
        for code, param in btype.params.items():
            if code not in values:
                if param.required:
                    doc = self.arg_codes[code].doc
                    op = isinstance(btype, OpType)   # an op's arguments come before its references
                    head, colon, refs = block.text.partition(":") if op else (block.text, "", "")
                    raise NetcError(f"{'op' if op else 'block'} `{btype.code}` needs argument `{code}` ({doc}), "
                                    f"e.g. `{head}_{_example(self.arg_codes[code])}{colon}{refs}`", block.code_span)
                values[code] = param.default
        return Args(values, spans, block), warnings

    def _value(self, spec: ArgCode, raw: str, tok: ArgToken, limits: Limits) -> Any:
        vspan = tok.value_span or tok.span.shifted(len(spec.code), max(1, len(raw)))   # shifted: maps template columns
        if len(raw) > MAX_DIGITS:   # past every limit, and past what int() converts
            raise NetcError(f"`{spec.code}`: the {spec.doc} `{raw[:12]}...` ({len(raw)} characters) is beyond "
                            f"any limit", vspan)
        if not raw and not isinstance(spec.kind, FlagKind):
            raise NetcError(f"argument `{spec.code}` needs a value ({spec.doc}), e.g. `{_example(spec)}`", tok.span)
        return spec.kind.decode(spec, raw, vspan, tok, limits, self)


def _param_list(btype: BlockType) -> str:
    parts = []
    for code, p in btype.params.items():
        parts.append(code + ("" if p.required else "?"))
    return ", ".join(parts) + " (? = optional)"


def _example(spec: ArgCode) -> str:
    return spec.kind.example(spec.code)


MAX_DIGITS = 30   # longer argument values are refused before any conversion


def _check_params(what: str, params: Any, arg_codes: dict[str, ArgCode]) -> None:
    """A block's or op's ``params``: registered argument codes, each with a :class:`Param`."""
    if not isinstance(params, dict):
        raise RegistryClash(f"{what}: `params` must be a dict of argument codes to Param, not {type(params).__name__}")
    for code, p in params.items():
        if code not in arg_codes:
            raise RegistryClash(f"{what} uses unregistered argument code `{code}`")
        if not isinstance(p, Param):
            raise RegistryClash(f"{what}: argument `{code}` must map to a Param (e.g. `Param(required=True)`), "
                                f"not {type(p).__name__}")
