"""Argument kinds: how the text after an argument code (`k3`, `e2.5`, `nre`, `bn`) decodes to a typed value."""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from netc.ast import ArgToken
from netc.diagnostics import NetcError, Span, did_you_mean
from netc.registry.limits import Limits

if TYPE_CHECKING:
    from netc.registry.entries import ArgCode
    from netc.registry.registry import Registry


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
