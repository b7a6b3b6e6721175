"""What a Keras-side weight reader gives the pairing: :class:`KerasSource` (the format recognised, the weighted
layers as a DAG with their variables' names, shapes and roles, and whether the DAG has the model's graph)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from netc.weights.keras_graph import Dag


@dataclass
class KerasSource:
    """A Keras weights source: its DAG (``topology`` True) or its layers in file order."""

    path: str
    kind: str                      # "Keras model", "legacy Keras .h5 model", ".weights.h5 file", "SavedModel"
    dag: Dag
    topology: bool
    model: Any = None              # the loaded keras.Model, when there is one (netc check runs it)
    run: Callable | None = None    # a SavedModel's signature: feeds (spec input order) -> outputs
    notes: list[str] = field(default_factory=list)


def reason(err: Exception) -> str:
    """The first line of an exception's message, for a NetcError."""
    msg = str(err) or type(err).__name__
    return msg.strip().splitlines()[0][:300]
