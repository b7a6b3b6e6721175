"""The spec-level multipliers as both frontends record them: `width X [rounding]` and `depth X [schedule]`
(YAML `width_multiplier`, `width_rounding`, `depth_multiplier`, `depth_schedule`)."""
from __future__ import annotations

import re

from netc import ast
from netc.diagnostics import NetcError, Span, did_you_mean
from netc.semantic.multipliers import SCALE_WORDS

_SCALE_LINE = re.compile(r"[ \t\f]*(width|depth)[ \t\f]+(\d+(?:\.\d+)?)[ \t\f]+([^\n]*)")


def set_scale(spec: ast.Spec, word: str, value: str, span: Span) -> None:
    """Record `width X` / `depth X` (either at most once, X > 0) on the spec."""
    if getattr(spec, word) is not None:
        raise NetcError(f"`{word}` is given twice", span)
    try:
        number = float(value)
    except ValueError:
        raise NetcError(f"`{word}` needs a number like `1.4`, found `{value}`", span) from None
    if not 0.0 < number <= 100.0:
        raise NetcError(f"`{word}` must be greater than 0 and at most 100, found {value}", span)
    setattr(spec, word, number)
    setattr(spec, f"{word}_span", span)


def set_rounding(spec: ast.Spec, word: str, rounding: str, span: Span) -> None:
    """Record the word after `width X` (:data:`ROUNDINGS`: how a scaled `c` rounds) or `depth X`
    (:data:`SCHEDULES`: what drop-connect's schedule counts)."""
    words, what, attr = SCALE_WORDS[word]
    if rounding not in words:
        raise NetcError(f"unknown {what} `{rounding}`{did_you_mean(rounding, words)}", span,
                        notes=[f"`{k}`: {doc}" for k, doc in words.items()])
    setattr(spec, attr, rounding)
    setattr(spec, f"{attr}_span", span)


def explain_scale_line(line: str, col: int) -> tuple[str, int, int] | None:
    """For a syntax error at offset ``col`` of ``line`` past a multiplier's number (`width 1.2 near_est`):
    (message, offset of what follows the number, its length); else None."""
    m = _SCALE_LINE.match(line)
    if m is None or col < m.start(3):
        return None
    rest = m.group(3).split("//")[0].rstrip()
    words, what, _ = SCALE_WORDS[m.group(1)]
    hint = "" if rest.split()[0] in words else did_you_mean(rest, words)
    return (f"after `{m.group(1)} {m.group(2)}` comes one {what} word ({', '.join(f'`{k}`' for k in words)}) "
            f"or the end of the line, found `{rest}`{hint}", m.start(3), len(rest))
