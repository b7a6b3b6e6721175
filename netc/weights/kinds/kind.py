"""The :class:`Kind` record every file of netc/weights/kinds/ fills in (see the package docstring)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Sig = tuple


@dataclass(frozen=True)
class Kind:
    """One kind of weighted op, seen from both sides of an import."""

    name: str                                   # "conv", "bn", ...: the first item of every signature
    prims: tuple[str, ...]                      # IR prim values lowered to it
    roles: tuple[str, ...]                      # IR weight roles, in the Keras layer's weight order
    keras_classes: tuple[str, ...]              # Keras layer classes read as this kind
    file_names: dict[str, str] = field(default_factory=dict)    # weights-only names: snake_case -> Keras class
    hints: tuple[tuple[str, str], ...] = ()     # name fragments that hint a class in a weights-only file
    ir_sig: Callable[[Any], tuple[Sig, dict]] | None = None      # IR node -> (signature, soft attributes)
    describe: Callable[[Sig], str] | None = None                 # signature in words
    difference: Callable[[Sig, Sig], str | None] | None = None  # what differs, in words
    recognise: Callable[[list[tuple[int, ...]]], bool] | None = None   # weights-only: do these shapes fit
    queue: Callable[[Sig], str] | None = None   # the Keras class a weights-only file files this node under
    identity: dict[str, float] = field(default_factory=dict)    # roles a layer may lack, and their value
    claims: Callable[[Any], bool] | None = None   # which IR nodes of its prims it takes (None: all of them)
    torch_roles: dict[str, str] = field(default_factory=dict)   # PyTorch parameter/buffer name -> IR role
    torch_ignored: tuple[str, ...] = ()         # PyTorch buffers that hold no weight (BN's num_batches_tracked)
    # a PyTorch array in the IR layout of ``role`` and ``shape`` (None: this layout cannot be that weight)
    from_torch: Callable[[str, Any, tuple[int, ...]], Any] | None = None
