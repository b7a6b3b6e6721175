"""Save a reference as the files users hold (.keras, .weights.h5, a SavedModel directory) and load them back."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Saved:
    keras: pathlib.Path            # the whole model (architecture + weights)
    weights_h5: pathlib.Path       # weights only: needs the architecture rebuilt
    savedmodel: pathlib.Path | None   # model.export(): a TF SavedModel with a `serve` endpoint


def save(model, directory: str | pathlib.Path, stem: str, savedmodel: bool = False) -> Saved:
    """Write ``model`` under ``directory`` as ``stem.keras``, ``stem.weights.h5`` and optionally ``stem_savedmodel/``."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    saved = Saved(d / f"{stem}.keras", d / f"{stem}.weights.h5", d / f"{stem}_savedmodel" if savedmodel else None)
    model.save(saved.keras)
    model.save_weights(saved.weights_h5)
    if saved.savedmodel is not None:
        model.export(str(saved.savedmodel), format="tf_saved_model", verbose=False)
    return saved


def load_keras(path: str | pathlib.Path):
    import keras
    return keras.saving.load_model(path, compile=False)


def load_weights_h5(path: str | pathlib.Path, architecture):
    """``architecture`` (a freshly constructed model of the same structure) with the file's weights."""
    architecture.load_weights(path)
    return architecture


def savedmodel_runner(path: str | pathlib.Path):
    """A function NHWC float32 array -> output array, from a SavedModel written by ``save``."""
    import tensorflow as tf
    loaded = tf.saved_model.load(str(path))   # must outlive the endpoint, which references its variables
    return lambda x: np.asarray(loaded.serve(tf.constant(x, tf.float32)))
