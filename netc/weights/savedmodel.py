"""SavedModel directories: by structure through the serving signature's graph (savedmodel_graph.py) where netc
reads every weighted op of it, else the variables grouped by layer, for pairing by class and shapes."""
from __future__ import annotations

import os
import re
from typing import Any, Callable

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.keras_graph import Dag
from netc.weights.source import KerasSource, reason as _reason
from netc.weights.weights_h5 import _Layer, _ordered_dag


def read_savedmodel(path: str) -> KerasSource:
    """A SavedModel: by structure through its serving signature's graph (savedmodel_graph.py) where netc
    reads every weighted op of it; otherwise its variables grouped by layer (``conv2d_3/kernel``), in the
    model's variable order, for pairing by class and shapes. Either way ``run`` calls the signature."""
    from netc.optional import import_tensorflow
    tf = import_tensorflow("reading a SavedModel")
    try:
        loaded = tf.saved_model.load(path)
    except Exception as err:  # noqa: BLE001
        fallback = _variables_checkpoint(tf, path, f"it cannot be loaded ({_reason(err)})")
        if fallback is not None:
            return fallback
        raise NetcError(f"cannot load SavedModel `{path}`: {_reason(err)}") from None
    from netc.weights.savedmodel_graph import serving_dag
    found = serving_dag(loaded, tf)
    if found is not None:
        dag, fn = found
        src = KerasSource(path, "SavedModel", dag, topology=True)
        src.run = _signature_runner(fn, dag)
        return src
    variables = list(getattr(loaded, "variables", []))
    groups: dict[str, _Layer] = {}
    for v in variables:
        if not v.dtype.is_floating:
            continue
        vname = re.sub(r":\d+$", "", v.name)
        layer = vname.rsplit("/", 1)[0] if "/" in vname else vname
        groups.setdefault(layer, _Layer(layer, [])).arrays.append(
            (vname, tuple(int(d) for d in v.shape), (lambda v: lambda: v.numpy())(v)))
    if not groups:
        fallback = _variables_checkpoint(tf, path, "it was saved without traces: no function holds its variables")
        if fallback is not None:
            return fallback
        raise NetcError(f"SavedModel `{path}` holds no variables netc can read (is it a Keras export?)")
    src = KerasSource(path, "SavedModel", _ordered_dag(list(groups.values())), topology=False)
    src.notes.append(f"SavedModel `{path}`: netc cannot read every layer from its signature's graph; its layers "
                     f"were paired by class and shapes")
    sigs = getattr(loaded, "signatures", {})
    if sigs:
        src.run = _signature_runner(sigs["serving_default"] if "serving_default" in sigs
                                    else next(iter(sigs.values())), None)
    return src


def _signature_runner(fn: Any, dag: Dag | None) -> Callable:
    """Feeds in the spec's input order -> the signature's outputs (in the order the pairing found, or by name)."""
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import tensorflow as tf
        _, kw = fn.structured_input_signature
        names = list(kw)
        outs = fn(**{k: tf.constant(x, dtype=kw[k].dtype) for k, x in zip(names, xs)})
        if dag is not None and all(n in outs for n in dag.output_names):
            return [np.asarray(outs[n]) for n in dag.output_names]
        return [np.asarray(outs[k]) for k in sorted(outs)]
    return run


def _variables_checkpoint(tf: Any, path: str, why: str) -> KerasSource | None:
    """The SavedModel's ``variables/`` checkpoint read through its object graph (checkpoint_graph.py)."""
    from netc.weights.checkpoint_graph import keras_checkpoint_source
    prefix = os.path.join(path, "variables", "variables")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception:  # noqa: BLE001
        return None
    src = keras_checkpoint_source(path, reader, [], kind="SavedModel")
    if src is not None:
        src.notes.insert(0, f"SavedModel `{path}`: {why}; its variables were read from `variables/`")
    return src
