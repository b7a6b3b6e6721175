"""Optional dependencies: a missing one is the user's set-up, reported as a NetcError naming the extra."""
from __future__ import annotations

import os
from typing import Iterable

from netc.diagnostics import NetcError

TF_EXTRA = "pip install 'netc[tf]'"


def require_modules(modules: Iterable[str], extra: str, purpose: str) -> None:
    """Import each of ``modules``, or raise a NetcError saying that ``purpose`` needs it and which extra of
    netc installs it."""
    modules = tuple(modules)
    if "tensorflow" in modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in modules:
        try:
            __import__(name)
        except ImportError as err:
            raise NetcError(f"{purpose} needs {name}, which is not installed ({type(err).__name__}: {err}); "
                            f"install it with `pip install 'netc[{extra}]'`") from None


def require_tensorflow(purpose: str, *, tf2onnx: bool = False) -> None:
    """Import TensorFlow and Keras (and tf2onnx), or raise a NetcError saying what to install for ``purpose``."""
    require_modules(["tensorflow", "keras"] + (["tf2onnx"] if tf2onnx else []), "tf", purpose)
