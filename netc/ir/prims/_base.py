"""What every primitive file defines: one :class:`PrimDef` (contract, reference semantics, MACs, weight roles)
and a ``Build`` mixin holding its builder method(s).

numpy is imported only when a reference function first runs (:data:`np` is a lazy handle), so lowering a spec
and ``netc summary`` never load it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from netc.ir.graph import Node


class _LazyNumpy:
    """``np.x`` imports numpy on first use."""

    def __getattr__(self, name: str) -> Any:
        mod = importlib.import_module("numpy")
        globals()["np"] = mod   # later lookups through this module skip the proxy
        return getattr(mod, name)


np: Any = _LazyNumpy()

Check = Callable[["Node"], "str | None"]
RunFn = Callable[["Node", list, dict], Any]     # (node, input arrays, weight values) -> array


@dataclass(frozen=True)
class PrimDef:
    """One primitive. ``run`` is its definition (numpy, channels-last; float32 results with float64 sums, or
    float64 throughout in a wide run); ``check`` is the part of its contract beyond the declarative fields;
    ``roles`` maps each weight key, in the order the Keras layer holds them, to the roles (init rules of
    :mod:`netc.ir.weights`) it may have; ``weights`` are the required keys, the others optional.
    ``lowering_only`` primitives are made by decompositions only (no block lowers to them), so a backend whose
    table has what they decompose from never sees them."""

    name: str
    doc: str
    inputs: tuple[int, int | None]                  # (min, max) number of inputs
    run: RunFn
    ranks: tuple[int, ...] = (2, 4)                 # ranks its (first) input may have
    attrs: tuple[str, ...] = ()                     # required attributes
    weights: tuple[str, ...] = ()                   # required weight keys
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    same_shape: bool = False                        # output shape == first input's shape
    check: Check | None = None
    macs: Callable[["Node"], int] | None = None     # multiply-accumulates of one batch element
    lowering_only: bool = False

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(k for k in self.roles if k not in self.weights)

    @property
    def order(self) -> tuple[str, ...]:
        """Every weight key, in the framework layer's order."""
        return tuple(self.roles)

    @property
    def multi_input(self) -> bool:
        return self.inputs[1] != 1


def weight(node: "Node", key: str, weights: dict) -> Any:
    """A weight's value as float32 (float64 kept in a wide run)."""
    w = np.asarray(weights[node.weights[key].name])
    return w if w.dtype == np.float64 else w.astype(np.float32, copy=False)


def ftype(x: Any) -> type:
    """The float type results keep: float32, or float64 in a wide run."""
    return x.dtype.type if x.dtype == np.float64 else np.float32


def same_rank(n: "Node") -> str | None:
    ranks = {v.rank for v in n.inputs}
    return None if len(ranks) == 1 else f"inputs of ranks {sorted(ranks)}"
