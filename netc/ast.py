"""The AST both frontends (`.net` text and YAML) produce. Every node carries a source span.

Names keep their trailing `#` as the notation writes them (`img#`, `c3#`, `backbone#`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netc.diagnostics import Span


@dataclass(frozen=True)
class Ref:
    """A reference to an input, a stack or a labelled block: `c3#`."""

    name: str
    span: Span


@dataclass(frozen=True)
class ArgToken:
    """One `_`-separated layer argument as written (`se4`), split into code/value by the registry."""

    text: str
    span: Span
    value_span: Span | None = None   # where the value is written when apart from the code (modular `k: 3`)


@dataclass(frozen=True)
class Block:
    """`[label#]body`. ``kind`` is "layer" (`ir_r1_k3...`) or "op" (`cnct:a#:b#`, `select:img#`)."""

    text: str
    span: Span
    kind: str
    code: str
    code_span: Span
    label: str | None = None
    label_span: Span | None = None
    args: tuple[ArgToken, ...] = ()
    refs: tuple[Ref, ...] = ()
    via: str | None = None   # "in the expansion of template `t` used at file:line:col" (expanded blocks)
    kwargs: tuple = ()       # kind "module" (modular YAML): (name, value, name span, value span, item spans)


@dataclass
class InputDecl:
    """An input of the model: `img#norm1` with its size (H, W, C); H, W may be None (dynamic)."""

    name: str
    span: Span
    op: str | None = None
    op_span: Span | None = None
    size: tuple[int | None, int | None] | None = None
    channels: int | None = None
    text: str = ""
    size_spans: tuple[Span | None, Span | None, Span | None] = (None, None, None)   # where H, W, C are written


@dataclass(frozen=True)
class TemplateLine:
    """One body line of a template, as written (placeholders `{l}` not yet filled), at ``line``:``col``."""

    text: str
    line: int
    col: int


@dataclass
class Template:
    """`template NAME_p_q:` and its indented body: block lines with `{p}`, `{q}`, `{1}`.., `{refs}`."""

    name: str
    params: tuple[str, ...]
    span: Span
    lines: list[TemplateLine] = field(default_factory=list)
    header: str = ""


@dataclass
class Stack:
    name: str
    span: Span
    lines: list[list[Block]] = field(default_factory=list)
    broken: bool = False   # a block string of it did not parse (YAML): its blocks are checked, not lowered

    @property
    def blocks(self) -> list[Block]:
        return [b for line in self.lines for b in line]


@dataclass
class Spec:
    """A whole model definition."""

    file: str
    input_stack: str = "inputs#"
    input_stack_span: Span | None = None
    input_lines: list[list[InputDecl]] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    outputs: list[Ref] = field(default_factory=list)
    outputs_span: Span | None = None
    source_format: str = "net"
    comments: dict[int, tuple[int, str]] = field(default_factory=dict)  # line -> (column, text), `.net` only
    lines: list[str] = field(default_factory=list, repr=False)   # the source, split as its parser counts lines
    end: Span | None = None                                      # just past the last non-blank character
    width: float | None = None    # `width 1.4`: every scalable `c` times this, rounded to a multiple of 8
    width_span: Span | None = None
    width_rounding: str | None = None   # `width 1.2 nearest`: how `c` rounds (multipliers.ROUNDINGS); None: `bounded`
    width_rounding_span: Span | None = None
    depth: float | None = None    # `depth 2`: every `r` times this, rounded up
    depth_span: Span | None = None
    depth_schedule: str | None = None   # `depth 1.4 written`: drop-connect's B (multipliers.SCHEDULES); None: `scaled`
    depth_schedule_span: Span | None = None
    modular: Any = None   # the modular YAML form as written (netc.frontends.modular.ModularForm), for `fmt`

    @property
    def inputs(self) -> list[InputDecl]:
        return [d for line in self.input_lines for d in line]
