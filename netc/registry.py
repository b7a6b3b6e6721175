"""The registry: block types, argument codes, ops, input ops and activations, one entry each.

A block type is one class (arguments, validation, lowering to IR primitives); its output shape,
parameter count and MACs follow from the lowering. Adding a block touches no backend.
"""
from __future__ import annotations

import difflib
import math
import re
from collections import ChainMap
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, ClassVar

from netc.ast import ArgToken, Block
from netc.diagnostics import NetcError, Span, did_you_mean
from netc.ir.builder import Builder
from netc.ir.graph import Value


@dataclass(frozen=True)
class Limits:
    """Bounds a spec cannot exceed without a flag (`--limit NAME=VALUE`)."""

    repeats: int = 1000
    channels: int = 65536
    kernel: int = 255
    stride: int = 255
    input_size: int = 16384
    expansion: int = 1000      # ratio arguments (`e`)
    params: int = 500_000_000
    nodes: int = 50_000         # IR nodes; lowering runs at about 25k nodes a second

    def raised(self, name: str, value: int) -> "Limits":
        if name not in self.__dataclass_fields__:
            raise NetcError(f"unknown limit `{name}`{did_you_mean(name, self.__dataclass_fields__)}; "
                            f"limits: {', '.join(self.__dataclass_fields__)}")
        return Limits(**{**self.__dict__, name: value})


class ArgKind:
    """The type of an argument code's value: how the text after the code decodes, once, to a typed value."""

    name: ClassVar[str]

    def decode(self, spec: "ArgCode", raw: str, vspan: Span, tok: ArgToken, limits: "Limits",
               reg: "Registry") -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def example(self, code: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _within_limit(spec: "ArgCode", raw: str, value: float, limit: str, limits: "Limits", vspan: Span) -> None:
    """Refuse a value past its `--limit` bound, saying how to raise it."""
    bound = getattr(limits, limit)
    if value > bound:
        shown = value if isinstance(value, int) else f"{value:g}"
        raise NetcError(f"`{spec.code}{raw}`: {spec.doc} {shown} exceeds the limit of {bound} "
                        f"(raise it with `--limit {limit}={math.ceil(value)}`)", vspan)


class IntKind(ArgKind):
    """A whole number >= 1 (`k3`), bounded by a limit."""

    name = "int"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        if re.fullmatch(r"-\d+", raw):
            raise NetcError(f"`{spec.code}{raw}`: {spec.doc} must be at least 1", vspan)
        if not (raw.isascii() and raw.isdigit()):
            raise NetcError(f"`{spec.code}` needs a whole number ({spec.doc}), found `{raw}`"
                            f"{reg._suggest_arg(tok.text) if raw[:1].isalpha() else ''}", vspan)
        value = int(raw)
        if value < 1:
            raise NetcError(f"`{spec.code}{raw}`: {spec.doc} must be at least 1", vspan)
        if spec.limit is not None:
            _within_limit(spec, raw, value, spec.limit, limits, vspan)
        return value

    def example(self, code: str) -> str:
        return f"{code}3"


class RatioKind(ArgKind):
    """A number > 0: `e6`, `e2.5`, `e1/3`."""

    name = "ratio"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(?:/(\d+(?:\.\d*)?))?", raw)
        if not m:
            raise NetcError(f"`{spec.code}` needs a number like `6`, `2.5` or `1/3`, found `{raw}`", vspan)
        num = Fraction(m.group(1))
        den = Fraction(m.group(2)) if m.group(2) else Fraction(1)
        if den == 0 or num == 0:
            raise NetcError(f"`{spec.code}{raw}`: {spec.doc} must be greater than 0", vspan)
        value = float(num / den)
        _within_limit(spec, raw, value, spec.limit or "expansion", limits, vspan)
        return value

    def example(self, code: str) -> str:
        return f"{code}6"


class ActKind(ArgKind):
    """A registered activation code (`nre`, `nhs`)."""

    name = "act"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        if raw not in reg.activations:
            act = reg._activation_named(raw)
            hint = f"; did you mean `{spec.code}{act}`?" if act else did_you_mean(raw, reg.activations)
            raise NetcError(f"unknown activation `{raw}`{hint}", vspan,
                            notes=["activations: " + ", ".join(
                                f"{a.code} ({a.doc})" for a in reg.activations.values())])
        return reg.activations[raw]

    def example(self, code: str) -> str:
        return f"{code}re"


class FlagKind(ArgKind):
    """Present or absent (`bn`)."""

    name = "flag"

    def decode(self, spec, raw, vspan, tok, limits, reg):
        if raw:
            raise NetcError(f"`{spec.code}` is a flag and takes no value (found `{tok.text}`)", vspan)
        return True

    def example(self, code: str) -> str:
        return code


class WordKind(ArgKind):
    """One of a few words (`mnearest`); the choices are the argument's own."""

    name = "word"

    def __init__(self, *choices: str):
        self.choices = choices

    def decode(self, spec, raw, vspan, tok, limits, reg):
        if raw not in self.choices:
            raise NetcError(f"`{spec.code}` takes one of {', '.join(self.choices)}, found `{raw}`"
                            f"{did_you_mean(raw, self.choices)}", vspan)
        return raw

    def example(self, code: str) -> str:
        return f"{code}{self.choices[0]}"


KINDS: dict[str, ArgKind] = {k.name: k for k in (IntKind(), RatioKind(), ActKind(), FlagKind())}


@dataclass(frozen=True)
class ArgCode:
    """An argument code of layer blocks (`k3`: code `k`, value 3), with the kind its value has."""

    code: str
    kind: ArgKind
    doc: str
    limit: str | None = None   # the Limits field that bounds it


@dataclass(frozen=True)
class Param:
    """How a block type uses an argument code: required or its default, and the range it allows."""

    required: bool = False
    default: Any = None
    ignored: bool = False     # accepted for compatibility, with a warning
    lo: float | None = None   # inclusive bounds of the decoded value, for this block
    hi: float | None = None
    below: float | None = None   # exclusive upper bound (a rate < 1)

    def check(self, code: str, value: Any, doc: str, span: Span) -> None:
        if self.lo is not None and value < self.lo:
            raise NetcError(f"`{code}`: {doc} must be at least {self.lo:g}, found {value:g}", span)
        if self.hi is not None and value > self.hi:
            raise NetcError(f"`{code}`: {doc} must be at most {self.hi:g}, found {value:g}", span)
        if self.below is not None and value >= self.below:
            raise NetcError(f"`{code}`: {doc} must be below {self.below:g}, found {value:g}", span)


@dataclass(frozen=True)
class Activation:
    code: str
    doc: str
    lower: Callable[[Builder, Value, str], Value]


@dataclass(frozen=True)
class InputOp:
    code: str
    doc: str
    lower: Callable[[Builder, Value], Value]


class Args:
    """Decoded, typed arguments of one block string: ``a.k``, ``a.n`` ...; absent optional ones are their
    defaults. Only the block's declared codes exist: a typo in a block's ``lower`` is an AttributeError that
    the registry-wide test finds."""

    def __init__(self, values: dict[str, Any], spans: dict[str, Span], block: Block):
        self._values, self._spans, self.block = values, spans, block

    def __getattr__(self, code: str) -> Any:
        try:
            return self.__dict__["_values"][code]
        except KeyError:
            raise AttributeError(f"block `{self.__dict__['block'].code}` declares no argument `{code}`") from None

    def span(self, code: str) -> Span:
        return self._spans.get(code, self.block.span)

    def replace(self, **kw: Any) -> "Args":
        return Args({**self._values, **kw}, self._spans, self.block)


class BlockType:
    """A layer block (`cn`, `ir`, ...). Subclasses set ``code``, ``doc``, ``params`` and ``lower``."""

    code: ClassVar[str]
    doc: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    repeatable: ClassVar[bool] = True
    example_rank: ClassVar[int] = 4            # the rank of input the registry-wide test lowers it on
    scales_width: ClassVar[bool] = True        # a spec's `width` multiplies its `c` (not a classifier's classes)
    stride_arg: ClassVar[str | None] = "s"     # set to 1 on copies 2..r

    def warnings(self, a: Args) -> list[tuple[str, Span]]:
        return []

    def lower(self, b: Builder, a: Args, x: Value) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class OpType:
    """An op (`cnct:`, `mul:`, `up_x2:`): takes referenced tensors, or the current one(s).

    An op with ``params`` also takes arguments, written as a layer's (`fuse_l4_nre:a#:b#`), decoded by the
    same argument codes; its ``lower`` then receives them as a fourth argument (:class:`Args`)."""

    code: str
    doc: str
    min_inputs: int
    max_inputs: int | None
    lower: Callable[..., Value]
    params: dict[str, Param] = field(default_factory=dict)


KWARG_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
}
for _t in ("int", "float", "str", "bool"):
    KWARG_TYPES[f"list[{_t}]"] = (lambda item: lambda v: isinstance(v, list) and all(map(item, v)))(KWARG_TYPES[_t])


@dataclass(frozen=True)
class Kwarg:
    """A module's keyword argument in the modular YAML form: its type (``int``, ``float``, ``str``,
    ``bool``, ``list[int]``, ...), required or its default, and a short description."""

    type: str
    required: bool = True
    default: Any = None
    doc: str = ""

    def __post_init__(self):
        if self.type not in KWARG_TYPES:
            raise ValueError(f"unknown kwarg type `{self.type}`; types: {', '.join(KWARG_TYPES)}")

    def accepts(self, value: Any) -> bool:
        return KWARG_TYPES[self.type](value)


class ModuleType:
    """A module of the modular YAML form (`type: custom_net`): structured kwargs, lowered with the Builder.

    Subclasses set ``name``, ``doc``, ``kwargs`` and ``lower``; ``lower(b, kw, xs)`` receives the decoded
    kwargs (a dict, defaults filled in) and the tensors of the modules named in ``prev`` (the model input
    for a first module), and returns the output tensor. Output shapes, parameters and MACs follow from the
    Builder calls. ``check`` may refuse combinations of kwargs (raise ``NetcError(msg, spans[name])``)."""

    name: ClassVar[str]
    doc: ClassVar[str] = ""
    kwargs: ClassVar[dict[str, Kwarg]] = {}
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

    def check(self, kw: dict[str, Any], spans: dict[str, Span]) -> None:
        return None

    def lower(self, b: Builder, kw: dict[str, Any], xs: list[Value]) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError


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

    def layered(self) -> "Registry":
        """A registry over this one: new entries go to the layer (this one stays as it is), lookups see both.
        One per compilation with plugins, so plugins never leak into the built-ins or into each other."""
        return Registry(**{f: ChainMap({}, getattr(self, f)) for f in self.__dataclass_fields__})

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
        for code in cls.params:
            if code not in self.arg_codes:
                raise RegistryClash(f"block `{cls.code}` uses unregistered argument code `{code}`")
        self._put(self.blocks, cls.code, cls(), "block type")
        return cls

    def op(self, code: str, doc: str, min_inputs: int = 1, max_inputs: int | None = None,
           params: dict[str, Param] | None = None):
        """Register an op; with ``params`` it takes arguments and ``fn(b, xs, names, args)``."""
        for c in params or {}:
            if c not in self.arg_codes:
                raise RegistryClash(f"op `{code}` uses unregistered argument code `{c}`")

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
                    raise NetcError(f"block `{btype.code}` needs argument `{code}` ({doc}), e.g. "
                                    f"`{block.text}_{_example(self.arg_codes[code])}`", block.code_span)
                values[code] = param.default
        return Args(values, spans, block), warnings

    def _value(self, spec: ArgCode, raw: str, tok: ArgToken, limits: Limits) -> Any:
        vspan = tok.span.shifted(len(spec.code), max(1, len(raw)))   # shifted: maps template columns too
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

REGISTRY = Registry()
