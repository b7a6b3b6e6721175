"""Trained weights for a checked spec: recognise the source's format and hand it to its reader.

The formats and their readers are listed in :data:`netc.weights.sources.READERS` (what each claims, how it
opens); named-variable sources (a TF checkpoint, a netc ``.npz``) are bound by name (``bind.py``), Keras
sources paired with the spec's ops (``keras_match.py``). Names and layouts are described in docs/weights.md.
"""
from __future__ import annotations

import os

from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.bind import Source, bind, block_of, expected_weights, find_prefix  # noqa: F401 (re-exported)
from netc.weights.sources import load_from


def load_weights(checked: CheckedModel, path: str | os.PathLike, weights_map: str | None = None,
                 subtree: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` from a netc ``.npz``, a TF checkpoint, or a Keras model
    (``.keras``, ``.weights.h5``, legacy ``.h5``, SavedModel directory; paired by structure, pinned by
    the YAML ``weights_map``; ``subtree``: the object of a TF checkpoint holding the model), as float32 arrays
    in IR layout."""
    return load_from(checked, os.fspath(path), weights_map, subtree)
