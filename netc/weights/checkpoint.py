"""Read tf_netbuilder weights from a TensorFlow checkpoint (``PREFIX.index`` + ``PREFIX.data-*``).

TensorFlow is imported only when a checkpoint is actually read. Variable names lose their
``/.ATTRIBUTES/VARIABLE_VALUE`` suffix; bookkeeping entries (the object graph, ``save_counter``,
optimizer state and slots, Keras metric state, integer step counters) are dropped before binding.
"""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from netc.diagnostics import NetcError
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.bind import Source, bind, expected_weights, find_prefix
from netc.weights.source import KerasSource

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_DATA = re.compile(r"\.data-\d{5}-of-\d{5}$")


def load_checkpoint(checked: CheckedModel, path: str) -> WeightValues:
    """Values for every weight of ``checked`` from a tf_netbuilder checkpoint, bound by name (float32, IR layout)."""
    return bind(checked, read_checkpoint(path))


def keras_view(checked: CheckedModel, src: Source, subtree: str | None = None,
               required: bool = False) -> KerasSource | None:
    """The checkpoint as a Keras model's layers (checkpoint_graph.py) when its keys hold no spec name (a Keras
    model's object paths) or ``subtree`` is given; None for a checkpoint bound by name (unless ``required``)."""
    expected = expected_weights(checked)
    prefix = find_prefix(list(src.shapes), set(expected))
    found = sum(1 for n in expected if (f"{prefix}/{n}" if prefix else n) in src.shapes)
    keras_src = None
    if found == 0 or subtree is not None or required:
        from netc.weights.checkpoint_graph import keras_checkpoint_source
        keras_src = keras_checkpoint_source(src.path, src.handle, [tuple(w.ext_shape) for w, _ in expected.values()],
                                            subtree, kind=src.kind)
    if keras_src is None and subtree is not None:
        raise NetcError(f"`--subtree {subtree}`: {src.kind} `{src.path}` has no object graph of a Keras model")
    if keras_src is None and required:
        raise NetcError(f"{src.kind} `{src.path}` has no object graph of a Keras model to pair; netc binds its "
                        f"variables by name (`netc build --weights`), there is no pairing to show")
    return keras_src


def resolve_prefix(path: str) -> str:
    """The checkpoint prefix named by ``path``: a prefix, its ``.index`` or data file, or a directory."""
    p = os.fspath(path)
    if os.path.isdir(p):
        p = _prefix_in_dir(p)
    elif p.endswith(".index"):
        p = p[: -len(".index")]
    elif _DATA.search(p):
        p = _DATA.sub("", p)
    if os.path.isfile(p + ".index"):
        if not glob.glob(glob.escape(p) + ".data-*"):
            raise NetcError(f"checkpoint `{p}` has no data file (`{p}.data-00000-of-00001` is missing)")
        return p
    data = sorted(glob.glob(glob.escape(p) + ".data-*"))
    if data:
        raise NetcError(f"checkpoint index `{p}.index` is missing (the data file `{data[0]}` is there)")
    if os.path.isfile(path):
        raise NetcError(f"`{path}` is not a weights file netc reads: by its name and first bytes it is no netc "
                        f".npz, no Keras file (.keras, .h5, .weights.h5) and no TensorFlow checkpoint; give a "
                        f"checkpoint by its prefix (PREFIX.index + PREFIX.data-*), a .npz, a Keras file or a "
                        f"SavedModel directory")
    raise NetcError(f"no checkpoint at `{path}`")


def _prefix_in_dir(d: str) -> str:
    state = os.path.join(d, "checkpoint")
    if os.path.isfile(state):
        with open(state, encoding="utf-8", errors="replace") as fh:
            m = re.search(r'^model_checkpoint_path:\s*"(.*)"', fh.read(), re.M)
        if m:
            return m.group(1) if os.path.isabs(m.group(1)) else os.path.join(d, m.group(1))
    found = sorted(glob.glob(os.path.join(glob.escape(d), "*.index")))
    if len(found) == 1:
        return found[0][: -len(".index")]
    if not found:
        raise NetcError(f"directory `{d}` holds no weights netc reads: not a SavedModel (no `saved_model.pb`), "
                        f"and no TensorFlow checkpoint (no `.index` file, no `checkpoint` state file)")
    names = ", ".join(f"`{os.path.basename(f)[:-6]}`" for f in found[:5])
    raise NetcError(f"directory `{d}` holds {len(found)} checkpoints ({names}); give one by its prefix")


def is_bookkeeping(name: str, dtype_is_float: bool, shape: tuple[int, ...]) -> bool:
    """Checkpoint entries that are not model weights."""
    parts = name.split("/")
    return (name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") or parts[0] in ("save_counter", "optimizer")
            or ".OPTIMIZER_SLOT" in parts or "keras_api" in parts
            or (not dtype_is_float and shape == ()))


def read_checkpoint(path: str) -> Source:
    """The weight variables of the checkpoint at ``path``, read lazily (imports TensorFlow)."""
    prefix = resolve_prefix(path)
    tf = _tensorflow()
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes_raw = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except Exception as err:  # noqa: BLE001 - TF raises many types for a damaged file
        raise NetcError(f"cannot read checkpoint index `{prefix}.index`: {_reason(err)} "
                        f"(is the file truncated or damaged?)") from None
    raw: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for key, shape in shapes_raw.items():
        name = key[: -len(_SUFFIX)] if key.endswith(_SUFFIX) else key
        shape = tuple(int(d) for d in shape)
        if is_bookkeeping(name, dtypes[key].is_floating, shape):
            continue
        raw[name], shapes[name] = key, shape
    data = ", ".join(f"`{f}`" for f in sorted(glob.glob(glob.escape(prefix) + ".data-*")))

    def read(name: str) -> np.ndarray:
        try:
            return np.asarray(reader.get_tensor(raw[name]))
        except Exception as err:  # noqa: BLE001 - truncated data raises IndexError, others OpError
            raise NetcError(f"cannot read `{name}` from checkpoint data {data}: {_reason(err)} "
                            f"(is the file truncated or damaged?)") from None

    kind = "TF2 object-based checkpoint" if "_CHECKPOINTABLE_OBJECT_GRAPH" in shapes_raw else "checkpoint"
    return Source(prefix, kind, dict(sorted(shapes.items())), read, handle=reader)


def _tensorflow():
    from netc.optional import import_tensorflow
    return import_tensorflow("reading a TensorFlow checkpoint",
                             "or convert it once with `netc weights export SPEC --weights CKPT -o weights.npz` "
                             "where TensorFlow is installed, and use the .npz")


def _reason(err: Exception) -> str:
    msg = getattr(err, "message", None) or str(err) or type(err).__name__
    return msg.strip().splitlines()[0]
