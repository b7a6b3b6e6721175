"""What the semantic pass produces: a checked model (AST, IR graph) and the summary's rows per block and stack."""
from __future__ import annotations

from dataclasses import dataclass, field

from netc import ast
from netc.diagnostics import Diagnostic, Span
from netc.ir.graph import Graph


@dataclass
class BlockInfo:
    """One row of the summary: a block string as written (all its repeat copies)."""

    stack: str
    names: list[str]                  # checkpoint block names of its copies (`layer_4`, `layer_5`, `c3`)
    text: str
    span: Span | None
    shape: tuple | None
    params: int = 0
    macs: int = 0
    copies: int = 1
    module: str | None = None         # the modular form's module name: what its row is called


@dataclass
class StackInfo:
    name: str
    span: Span
    blocks: list[BlockInfo] = field(default_factory=list)
    shape: tuple | None = None

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.blocks)


@dataclass
class CheckedModel:
    """A typed, checked model: the AST, the IR graph and per-block facts for the summary."""

    spec: ast.Spec
    graph: Graph
    inputs: list[BlockInfo]
    stacks: list[StackInfo]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.graph.param_count()

    @property
    def macs(self) -> int:
        return sum(n.macs() for n in self.graph.nodes)
