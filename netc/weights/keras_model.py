"""Full Keras models (``.keras``, a legacy whole-model ``.h5``): loaded with Keras, reduced to a weighted-op DAG.

``keras.models.load_model`` rebuilds the model; its functional graph (nested models and Sequential included)
becomes a :class:`~netc.weights.keras_graph.Dag`, each layer through keras_layers.py. Keras is imported only
when such a file is read.
"""
from __future__ import annotations

import os
from typing import Any

from netc.diagnostics import NetcError
from netc.weights.keras_graph import Dag, Expr
from netc.weights.keras_layers import layer_expr
from netc.weights.source import KerasSource, reason as _reason


def _keras():
    from netc.optional import require_tensorflow
    require_tensorflow("reading a Keras model", alternative="or convert it once with `netc weights export SPEC "
                       "--weights MODEL -o weights.npz` where they are installed")
    import keras
    return keras


def keras_dag(model: Any) -> Dag:
    """The weighted ops of a functional (or Sequential) Keras model with their input expressions."""
    keras = _keras()
    fn = _functional(keras, model)
    inputs = list(_flat(fn.inputs))
    dag = Dag(n_inputs=len(inputs), input_channels=[_channels(t) for t in inputs])
    calls: dict[int, int] = {}
    dag.outputs = _walk(keras, fn, [("in", i) for i in range(len(inputs))], dag, calls)
    dag.output_names = [getattr(t, "name", f"output_{i}") for i, t in enumerate(_flat(fn.outputs))]
    return dag


def _functional(keras: Any, model: Any) -> Any:
    if isinstance(model, keras.Sequential):
        if getattr(model, "_functional", None) is None:
            raise NetcError(f"Sequential model `{model.name}` was never built: netc needs its input shape")
        return model._functional
    if not hasattr(model, "_nodes_by_depth"):
        raise NetcError(f"model `{model.name}` ({type(model).__name__}) is a subclassed Keras model: it has no "
                        f"graph netc can read; save its weights (`model.save_weights`) and use that file")
    return model


def _flat(x: Any) -> list:
    import keras
    return list(keras.tree.flatten(x))


def _channels(t: Any) -> int | None:
    shape = getattr(t, "shape", None)
    return None if not shape else shape[-1]


def _walk(keras: Any, fn: Any, in_exprs: list[Expr], dag: Dag, calls: dict[int, int],
          pads: dict[int, tuple] | None = None) -> list[Expr]:
    pads = {} if pads is None else pads   # ZeroPadding2D outputs: (padding, input H x W)
    local: dict[int, Expr] = {id(t): e for t, e in zip(_flat(fn.inputs), in_exprs)}
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                continue
            ins = [local.get(id(t)) for t in node.input_tensors]
            if isinstance(op, keras.Model):
                outs = _walk(keras, _functional(keras, op), ins, dag, calls, pads)
            else:
                outs = [layer_expr(keras, op, ins, dag, calls)] * len(node.output_tensors)
                if type(op).__name__ == "ZeroPadding2D":
                    for t in node.output_tensors:
                        pads[id(t)] = (op.padding, tuple(node.input_tensors[0].shape[1:3]))
                elif outs and isinstance(outs[0], tuple) and outs[0][0] == "w" and len(node.input_tensors) == 1 \
                        and id(node.input_tensors[0]) in pads:
                    wnode = dag.nodes[outs[0][1]]
                    if type(op).__name__ == "SeparableConv2D":   # the padding is its depthwise half's
                        wnode = dag.nodes[wnode.expr[1]]
                    _padded_same(wnode, op, *pads[id(node.input_tensors[0])])
            for t, e in zip(node.output_tensors, outs):
                local[id(t)] = e
    return [local.get(id(t)) for t in _flat(fn.outputs)]


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one spatial axis."""
    eff = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _padded_same(wnode: Any, op: Any, padding: Any, hw: tuple) -> None:
    """A ZeroPadding2D then a VALID conv that together pad exactly as SAME at the model's size (Keras
    MobileNet's stride-2 convs) compare as SAME with the spec, not as a padding difference."""
    if wnode.soft.get("padding") != "valid" or None in hw or not hasattr(op, "kernel_size"):
        return
    pads = tuple(tuple(int(v) for v in p) for p in padding)
    k, s = op.kernel_size, op.strides
    d = getattr(op, "dilation_rate", (1, 1))
    if all(_same_pads(int(hw[i]), k[i], s[i], d[i]) == pads[i] for i in range(2)):
        wnode.soft["padding"] = "same"


def _check_keras_zip(path: str) -> None:
    """A `.keras` file is a zip archive (config.json, model.weights.h5): say so when it is not, or is cut short,
    rather than Keras's "File not found"."""
    import zipfile
    size = os.path.getsize(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(4)
        what = "an empty file" if size == 0 else (
            "the start of a zip archive whose end is missing (truncated?)" if head == b"PK\x03\x04" else
            "an HDF5 file (a legacy `.h5` model renamed?)" if head == b"\x89HDF" else "not a zip archive")
        raise NetcError(f"`{path}` ({size} bytes) is not a readable Keras model: a `.keras` file is a zip archive "
                        f"holding config.json and model.weights.h5, and this is {what}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise NetcError(f"`{path}` ({size} bytes): the zip archive of this `.keras` model is damaged "
                        f"({_reason(err)})") from None
    if bad is not None:
        raise NetcError(f"`{path}`: member `{bad}` of this `.keras` model's zip archive is damaged (a bad CRC)")
    missing = [n for n in ("config.json", "model.weights.h5") if n not in names]
    if missing:
        raise NetcError(f"`{path}` is a zip archive but not a Keras model: it lacks " +
                        ", ".join(f"`{n}`" for n in missing))


def read_keras_model(path: str) -> KerasSource:
    if path.lower().endswith(".keras"):
        _check_keras_zip(path)
    keras = _keras()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a file it cannot read
        fallback = _legacy_weights(path, err)
        if fallback is not None:
            return fallback
        raise NetcError(f"cannot load Keras model `{path}`: {_reason(err)}",
                        notes=["netc needs the model's own file (`model.save(...)`); a model with custom "
                               "layers must be loadable without them, or export its weights with "
                               "`model.save_weights(...)` and use that file"]) from None
    kind = "Keras model" if path.lower().endswith(".keras") else "legacy Keras .h5 model"
    return KerasSource(path, kind, keras_dag(model), topology=True, model=model)


def _legacy_weights(path: str, err: Exception) -> KerasSource | None:
    """A legacy whole-model ``.h5`` whose config Keras cannot rebuild (a custom class such as Model Garden's
    SpineNet): its ``model_weights`` group holds every weight, paired like a legacy weights file."""
    if not path.lower().endswith((".h5", ".hdf5")):
        return None
    from netc.weights.weights_h5 import _h5py, legacy_dag
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError:
        return None
    if "model_weights" not in f or "layer_names" not in f["model_weights"].attrs:
        return None
    kind = "legacy Keras 2 HDF5 model file"
    src = KerasSource(path, kind, legacy_dag(f["model_weights"], kind), topology=False)
    src.notes.append(f"`{path}`: its architecture cannot be rebuilt ({_reason(err)}); its layers were paired "
                     f"from `model_weights` by class and shapes, look-alikes by the creation order their names "
                     f"record")
    return src
