"""Keras weights sources: what a Keras file or SavedModel directory is, and the reader for each.

A :class:`KerasSource` is what a reader gives the pairing (keras_match.py): the format it recognised, its
weighted layers as a DAG with their variables' names, shapes and roles, and whether that DAG has the model's
graph (``topology``: paired by structure) or only the layers (paired by class and shapes, pair_order.py).
Readers: keras_model.py (``.keras``, legacy whole-model ``.h5``), weights_h5.py (``.weights.h5``, legacy
weights-only ``.h5``), savedmodel.py (SavedModel directories). TensorFlow, Keras and h5py are imported only
when such a file is read.
"""
from __future__ import annotations

import os
from netc.diagnostics import NetcError
from netc.weights.source import KerasSource, reason  # noqa: F401 (re-exported)

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_keras_source(path: str) -> bool:
    """A ``.keras`` / ``.h5`` file or a SavedModel directory (``saved_model.pb`` inside)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return os.path.isfile(os.path.join(p, "saved_model.pb"))
    return p.lower().endswith(KERAS_SUFFIXES)


def open_source(path: str) -> KerasSource:
    """Read the Keras weights source at ``path`` (a NetcError when it cannot be read)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        if not os.path.isfile(os.path.join(p, "saved_model.pb")):
            raise NetcError(f"`{p}` is a directory without `saved_model.pb`: not a SavedModel")
        from netc.weights.savedmodel import read_savedmodel
        return read_savedmodel(p)
    if not os.path.isfile(p):
        raise NetcError(f"no Keras model at `{p}`")
    from netc.weights.weights_h5 import h5_has_model, read_weights_h5
    low = p.lower()
    if low.endswith(".weights.h5") or (low.endswith((".h5", ".hdf5")) and not h5_has_model(p)):
        return read_weights_h5(p)
    from netc.weights.keras_model import read_keras_model
    return read_keras_model(p)
