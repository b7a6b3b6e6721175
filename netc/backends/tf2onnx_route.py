"""Keras model -> ONNX through tf2onnx, the route users take today (kept for comparison).

Limits of tf2onnx 1.17 on this stack: opsets up to 18; ``large_model=True`` crashes on
numpy 2, so it is never used (models must stay under 2 GB); it converts Keras 3 Functional
models only. Ops it cannot convert are left in the graph; :func:`keras_to_onnx` refuses
such a result instead of returning a model onnxruntime cannot load.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netc.diagnostics import NetcError

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import onnx

MIN_OPSET = 9
MAX_OPSET = 18  # tf2onnx 1.17: "Opset 19 is not supported yet"


def input_signature(model: "keras.Model") -> list[Any]:
    """TensorSpecs for the model's inputs, named after them, with a dynamic batch."""
    import tensorflow as tf

    return [tf.TensorSpec((None, *tuple(t.shape)[1:]), tf.as_dtype(t.dtype), name=t.name)
            for t in model.inputs]


def unsupported_ops(proto: "onnx.ModelProto") -> list[str]:
    """Nodes in the default ONNX domain that are no ONNX operator (tf2onnx left them unconverted)."""
    import onnx

    return sorted({f"{n.op_type} ({n.name})" for n in proto.graph.node
                   if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)})


def keras_to_onnx(model: "keras.Model", opset: int = 17) -> "onnx.ModelProto":
    """Convert a Keras 3 Functional model with ``tf2onnx.convert.from_keras`` (NHWC io, dynamic batch)."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise NetcError(f"tf2onnx supports ONNX opsets {MIN_OPSET} to {MAX_OPSET}, not {opset}")
    import tf2onnx

    proto, _ = tf2onnx.convert.from_keras(model, input_signature=input_signature(model), opset=opset,
                                          large_model=False)
    bad = unsupported_ops(proto)
    if bad:
        raise NetcError(f"tf2onnx could not convert {len(bad)} TensorFlow op(s) of model "
                        f"`{model.name}`: {', '.join(bad)}",
                        notes=["grouped convolutions (Conv2D groups > 1, not depthwise) run through "
                               "an XLA-compiled function in Keras 3 that tf2onnx cannot convert; "
                               "use netc's own ONNX backend"])
    return proto
