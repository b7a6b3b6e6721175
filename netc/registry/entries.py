"""What the registry holds: argument codes, block types, ops, input ops, activations and modules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from netc.ast import Block
from netc.diagnostics import NetcError, Span
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry.kinds import ArgKind


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

    def written(self, code: str) -> bool:
        """Whether the block string gives ``code`` (else it holds its default)."""
        return code in self._spans

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
