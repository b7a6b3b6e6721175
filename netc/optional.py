"""Optional dependencies: a missing one is the user's set-up, reported as a NetcError naming the extra.

This module is the one place that sets TensorFlow's log level (:func:`quiet_tensorflow`) and the one spelling
of "TensorFlow is missing" (:func:`missing`); every import of TensorFlow, Keras or tf2onnx goes through
:func:`require_tensorflow` (or calls these two before its own import).
"""
from __future__ import annotations

import contextlib
import os
import sys
from types import ModuleType
from typing import Iterable, Iterator

from netc.diagnostics import NetcError

TF_EXTRA = "pip install 'netc[tf]'"
#: TensorFlow's C++ log level while netc runs it: its start-up chatter is not the user's business (a value the
#: user set in the environment is kept)
TF_LOG_LEVEL = "3"
#: the modules whose first import loads TensorFlow's C++ runtime
_TF_MODULES = frozenset({"tensorflow", "keras", "tf2onnx", "tf_keras"})


def quiet_tensorflow() -> None:
    """Set TensorFlow's C++ log level before it is imported (unless the environment already sets one)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)


@contextlib.contextmanager
def _silent_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration: TensorFlow 2.21's C++ start-up lines (absl's
    "All log messages before absl::InitializeLog()" and, on CPUs where it is on, oneDNN's notice) are written
    before TF_CPP_MIN_LOG_LEVEL is read, so only the descriptor stops them. Python's own errors still reach the
    caller as exceptions."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):   # no usable descriptor 2 (an embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def missing(purpose: str, name: str, err: ImportError, alternative: str = "", extra: str = "tf") -> NetcError:
    """The error for ``purpose`` needing ``name``, which cannot be imported; ``extra`` of netc installs it."""
    also = f"; {alternative}" if alternative else ""
    return NetcError(f"{purpose} needs {name}, which is not installed ({type(err).__name__}: {err}); "
                     f"install it with `pip install 'netc[{extra}]'`{also}")


def require_modules(modules: Iterable[str], extra: str, purpose: str, alternative: str = "") -> None:
    """Import each of ``modules``, or raise a NetcError saying that ``purpose`` needs it and which extra of
    netc installs it."""
    modules = tuple(modules)
    if "tensorflow" in modules:
        quiet_tensorflow()
    for name in modules:
        # TensorFlow's chatter is silenced when the log level is netc's own, not one the user set
        quiet = (name in _TF_MODULES and name not in sys.modules
                 and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == TF_LOG_LEVEL)
        try:
            with _silent_stderr() if quiet else contextlib.nullcontext():
                __import__(name)
        except ImportError as err:
            raise missing(purpose, name, err, alternative, extra) from None


def import_tensorflow(purpose: str, alternative: str = "") -> ModuleType:
    """The ``tensorflow`` module, imported quietly, or a NetcError saying what to install for ``purpose``."""
    require_modules(["tensorflow"], "tf", purpose, alternative)
    import tensorflow
    return tensorflow


def require_tensorflow(purpose: str, *, tf2onnx: bool = False, alternative: str = "") -> None:
    """Import TensorFlow and Keras (and tf2onnx), or raise a NetcError saying what to install for ``purpose``
    (``alternative``: what the user can do instead, e.g. convert the file to .npz)."""
    require_modules(["tensorflow", "keras"] + (["tf2onnx"] if tf2onnx else []), "tf", purpose, alternative)
