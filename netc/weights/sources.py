"""The weights formats netc reads: a list of readers, each (name, what it claims, how it loads).

A reader *claims* a path from what is cheap to see (an extension, a file's first bytes, a directory's files)
and *loads* the spec's weights from it. :func:`load_from` takes the first reader that claims the path; a
source none claims is read as a TF checkpoint, whose resolver says what it expected to find.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from netc.diagnostics import NetcError
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel


@dataclass(frozen=True)
class Reader:
    """One weights format: ``claims(path)`` and ``load(checked, path, weights_map)``."""

    name: str
    claims: Callable[[str], bool]
    load: Callable[[CheckedModel, str, str | None, str | None], WeightValues]   # (.., path, map, subtree)
    pairs: bool = False        # paired with the spec's ops (a map file may pin pairs) rather than bound by name


def _keras_claims(path: str) -> bool:
    from netc.weights.keras_source import is_keras_source
    return is_keras_source(path)


def _keras_load(checked: CheckedModel, path: str, weights_map: str | None, subtree: str | None) -> WeightValues:
    from netc.weights.keras_match import load_keras_weights
    return load_keras_weights(checked, path, weights_map)


def _torch_claims(path: str) -> bool:
    from netc.weights.torch_reader import is_torch_file
    return is_torch_file(path)


def _torch_load(checked: CheckedModel, path: str, weights_map: str | None, subtree: str | None) -> WeightValues:
    from netc.weights.pair_torch import load_torch_weights
    return load_torch_weights(checked, path, weights_map)


def is_npz(path: str) -> bool:
    """A ``.npz`` by its extension, or a zip file's signature (not a checkpoint's index or data file)."""
    if path.lower().endswith(".npz"):
        return True
    if not os.path.isfile(path) or path.endswith(".index") or ".data-" in os.path.basename(path):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _npz_load(checked: CheckedModel, path: str, weights_map: str | None, subtree: str | None) -> WeightValues:
    from netc.weights.npz import load_npz
    return load_npz(checked, path)


def _checkpoint_load(checked: CheckedModel, path: str, weights_map: str | None,
                     subtree: str | None) -> WeightValues:
    """A tf_netbuilder checkpoint bound by name, or a Keras model's paired through its object graph."""
    from netc.weights.bind import bind
    from netc.weights.checkpoint import keras_view, read_checkpoint
    src = read_checkpoint(path)
    keras_src = keras_view(checked, src, subtree)
    if keras_src is not None:
        from netc.weights.keras_match import load_paired
        return load_paired(checked, keras_src, weights_map)
    if weights_map is not None:
        raise NetcError(f"a weights map (`{weights_map}`) pairs a Keras model's layers; checkpoint `{src.path}` "
                        f"is a tf_netbuilder model's, whose variables are bound by name")
    return bind(checked, src)


def pair_source(checked: CheckedModel, path: str, weights_map: str | None = None,
                subtree: str | None = None):
    """The pairing (keras_match.Pairing) of ``checked``'s ops with the source at ``path``: a PyTorch checkpoint,
    a Keras file, a SavedModel, or a TF checkpoint of a Keras model, narrowed to ``subtree``."""
    from netc.weights.keras_match import match, read_map
    from netc.weights.keras_source import is_keras_source, open_source
    pins = read_map(weights_map) if weights_map else None
    if _torch_claims(path):
        if subtree is not None:
            raise NetcError(f"`--subtree {subtree}` chooses an object of a TF checkpoint; `{path}` is a PyTorch file")
        from netc.weights.pair_torch import match_torch
        return match_torch(checked, path, pins)
    if is_keras_source(path):
        if subtree is not None:
            raise NetcError(f"`--subtree {subtree}` chooses an object of a TF checkpoint; `{path}` is a Keras file")
        return match(checked, open_source(path), pins)
    from netc.weights.checkpoint import keras_view, read_checkpoint
    return match(checked, keras_view(checked, read_checkpoint(path), subtree, required=True), pins)


READERS: list[Reader] = [
    Reader("PyTorch checkpoint (.pth, .pt, .safetensors)", _torch_claims, _torch_load, pairs=True),
    Reader("Keras model (.keras, .weights.h5, .h5, SavedModel directory)", _keras_claims, _keras_load, pairs=True),
    Reader("netc .npz", is_npz, _npz_load),
    Reader("TensorFlow checkpoint", lambda path: True, _checkpoint_load, pairs=True),
]


def load_from(checked: CheckedModel, path: str, weights_map: str | None = None,
              subtree: str | None = None) -> WeightValues:
    """The spec's weights from the first reader that claims ``path``."""
    reader = next(r for r in READERS if r.claims(path))
    if subtree is not None and reader.name != "TensorFlow checkpoint":
        raise NetcError(f"`--subtree {subtree}` chooses an object of a TF checkpoint; `{path}` is a {reader.name}")
    if weights_map is not None and not reader.pairs:
        raise NetcError(f"a weights map (`{weights_map}`) pairs a Keras model's layers; `{path}` is not a Keras "
                        f"model (.keras, .weights.h5, .h5 or a SavedModel directory): netc read it as a "
                        f"{reader.name}, whose variables are bound by name")
    return reader.load(checked, path, weights_map, subtree)
