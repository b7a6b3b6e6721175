"""Model names and the directories of serving layouts, written through netc.atomic: a failed build leaves
what was there untouched."""
from __future__ import annotations

import os
import re
from typing import Callable

from netc.atomic import atomic_dir, atomic_file, check_target, dir_entries, savedmodel_or_empty
from netc.diagnostics import NetcError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _onnx_version(d: str) -> bool:
    entries = dir_entries(d)
    return entries is not None and entries <= {"model.onnx", "model.onnx.data"}


# what an existing model version directory may hold for netc to replace it, per serving system
TRITON_VERSION = ("an earlier Triton model version (model.onnx only)", _onnx_version)
TF_SERVING_VERSION = ("an earlier SavedModel (saved_model.pb)", savedmodel_or_empty)


def model_name(spec: str, name: str | None) -> str:
    """``name``, or the spec file's name without its suffix; a directory name both servers accept."""
    chosen = name if name is not None else os.path.splitext(os.path.basename(os.path.normpath(spec)))[0]
    if not _NAME.fullmatch(chosen):
        raise NetcError(f"`{chosen}` cannot name a served model: use letters, digits, `_`, `.` and `-` "
                        f"(starting with a letter or digit){'' if name else '; give one with --name'}")
    return chosen


def check_layout(base: str, what: str) -> None:
    """Refuse a layout root that cannot hold a layout (a file, an unwritable or missing parent), before any work."""
    if os.path.lexists(base) and not os.path.isdir(base):
        raise NetcError(f"`{base}` is a file: --serve {what} writes into a directory")
    if not os.path.isdir(base):
        check_target(base)   # its parent must exist and be writable; the directory is made when written


def check_model_dir(base: str, name: str, version: str, replaceable: tuple[str, Callable[[str], bool]],
                    files: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, every target of ``base/<name>/``: the model directory (a directory or absent),
    its ``version`` directory (absent, or netc's to replace) and the ``files`` written beside it (absent, or a
    plain file). Nothing is written when one of them is in the way."""
    model_dir = os.path.join(base, name)
    if os.path.lexists(model_dir) and (os.path.islink(model_dir) or not os.path.isdir(model_dir)):
        raise NetcError(f"cannot write the model directory `{model_dir}`: a file or link of that name exists")
    if not os.path.isdir(model_dir):
        return
    if not os.access(model_dir, os.W_OK | os.X_OK):
        raise NetcError(f"cannot write into `{model_dir}`: the directory is not writable")
    check_target(os.path.join(model_dir, version), directory=True, replaceable=replaceable)
    for f in files:
        path = os.path.join(model_dir, f)
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
            raise NetcError(f"cannot write `{path}`: a directory or link of that name exists")


def write_dir(target: str, fill: Callable[[str], None], replaceable: tuple[str, Callable[[str], bool]]) -> None:
    """Fill a temporary directory beside ``target`` with ``fill(tmp)``, then put it in ``target``'s place."""
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with atomic_dir(target, replaceable) as tmp:
        fill(tmp)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_file(path) as (_, fh):
        fh.write(text.encode("utf-8"))
