"""Writing ``.onnx`` files atomically, with the weights inside or as external data."""
from __future__ import annotations

import os
from typing import Any

from netc.backends.onnx.external import ExternalData, needs_external_data
from netc.backends.onnx.model import encode_onnx
from netc.backends.onnx.protobuf import write_model
from netc.backends.onnx.wire import EncodedModel
from netc.ir.graph import Graph
from netc.ir.weights import WeightValues


def write_onnx(graph: Graph, weights: WeightValues, path: str | os.PathLike, *,
               external_data: bool | None = None, **kwargs: Any) -> EncodedModel:
    """Convert (:func:`encode_onnx`, ``kwargs``) and write ``path`` atomically; returns the model as written
    (``.proto()`` parses it with onnx).

    ``external_data``: True puts the weights in ``<path>.data`` beside the model (ONNX external data, the
    location relative to the model), False keeps them inside, None (default) chooses external data when
    the weights pass protobuf's 2 GiB limit. The data file is written while the model is made; both are
    renamed into place only once both are complete."""
    if external_data is None:
        external_data = needs_external_data(weights)
    if not external_data:
        model = encode_onnx(graph, weights, **kwargs)
        save_onnx(model, path)
        return model
    from netc.atomic import atomic_file
    path = os.fspath(path)
    data_path = path + ".data"
    # both files are written under temporary names; the model's rename comes first, the data's at once after:
    # a failure anywhere before leaves an existing model and its data as they were
    with atomic_file(data_path, suffix=".data.tmp") as (_, f):
        model = encode_onnx(graph, weights, sink=ExternalData(f, os.path.basename(data_path)), **kwargs)
        save_onnx(model, path)
    return model


def save_onnx(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` (an ``onnx.ModelProto`` or netc's :class:`EncodedModel`) to ``path`` atomically
    (netc/atomic.py)."""
    from netc.atomic import atomic_file
    with atomic_file(path, suffix=".onnx.tmp") as (_, fh):
        if isinstance(model, EncodedModel):
            model.write(fh)
        else:
            write_model(model, fh)
