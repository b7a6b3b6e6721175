"""Run a functional Keras model node by node, eagerly, with chosen layers replaced.

Calibration (set each BN's statistics from the data it receives) and the planted mistakes (a wrong
epsilon, a padding side, a dropped residual) both need to intervene at one layer while the rest of the
graph runs as built. Keras' own functional executor visits the nodes in topological order; this module
hands it an ``operation_fn`` that routes chosen layers through a replacement.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

# A replacement receives the layer and the arguments Keras would pass it, and returns its outputs.
Override = Callable[..., Any]


def run_graph(model, x: np.ndarray, overrides: dict[str, Override] | None = None) -> np.ndarray:
    """Outputs of ``model`` on ``x`` in inference mode, with ``overrides[layer.name]`` called in place of a layer."""
    import keras
    overrides = overrides or {}

    def operation_fn(op):
        repl = overrides.get(getattr(op, "name", ""))

        def call(*args, **kwargs):
            if "training" in getattr(op, "_call_context_args", {}):
                kwargs["training"] = False
            if repl is not None:
                return repl(op, *args, **kwargs)
            return op(*args, **kwargs)
        return call

    x = keras.ops.convert_to_tensor(np.asarray(x, dtype=model.inputs[0].dtype))
    out = model._run_through_graph([x], operation_fn=operation_fn)
    out = out[0] if isinstance(out, (list, tuple)) else out
    return keras.ops.convert_to_numpy(out)


def layers_of(model, cls_name: str) -> list:
    """The model's layers of one Keras class, in the model's (topological) order."""
    return [layer for layer in model.layers if type(layer).__name__ == cls_name]
