"""Model names and atomic writes for serving layouts: a failed build leaves what was there untouched."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Callable

from netc.diagnostics import NetcError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def model_name(spec: str, name: str | None) -> str:
    """``name``, or the spec file's name without its suffix; a directory name both servers accept."""
    chosen = name if name is not None else os.path.splitext(os.path.basename(os.path.normpath(spec)))[0]
    if not _NAME.fullmatch(chosen):
        raise NetcError(f"`{chosen}` cannot name a served model: use letters, digits, `_`, `.` and `-` "
                        f"(starting with a letter or digit){'' if name else '; give one with --name'}")
    return chosen


def write_dir(target: str, fill: Callable[[str], None]) -> None:
    """Fill a temporary directory beside ``target`` with ``fill(tmp)``, then put it in ``target``'s place."""
    target = os.path.abspath(target)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", dir=parent)
    old = None
    try:
        fill(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if os.path.lexists(target):
            if not os.path.isdir(target) or os.path.islink(target):
                raise NetcError(f"`{target}` exists and is not a directory")
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old.", dir=parent)
            os.rmdir(old)
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not os.path.exists(target):
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".netc-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
