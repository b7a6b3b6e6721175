"""Optional dependencies: a missing one is the user's set-up, reported as a NetcError naming the extra."""
from __future__ import annotations

import os

from netc.diagnostics import NetcError

TF_EXTRA = "pip install 'netc[tf]'"


def require_tensorflow(purpose: str, *, tf2onnx: bool = False) -> None:
    """Import TensorFlow and Keras (and tf2onnx), or raise a NetcError saying what to install for ``purpose``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    modules = ["tensorflow", "keras"] + (["tf2onnx"] if tf2onnx else [])
    for name in modules:
        try:
            __import__(name)
        except ImportError as err:
            raise NetcError(f"{purpose} needs {name}, which is not installed ({type(err).__name__}: {err}); "
                            f"install it with `{TF_EXTRA}`") from None
