"""One atomic writer for every output netc writes (ONNX, .keras, SavedModel directories, .npz).

An output is produced under a temporary name beside its target, created with the mode a plain ``open`` gives
(0666 files, 0777 directories, less the umask, which the kernel applies: netc never reads or sets the
process's umask, so threads creating files meanwhile are unaffected), then renamed into place: a failure
leaves an existing target untouched and no partial file behind. Mistakes about the target itself (a folder
that does not exist, a target that is a directory) are :class:`NetcError`, reported before any work.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from typing import IO, Callable, Iterator

from netc.diagnostics import NetcError


def _create(parent: str, prefix: str, suffix: str, make: Callable[[str], object]) -> tuple[str, object]:
    """``make(path)`` on a new name in ``parent`` (``make`` fails with FileExistsError on a taken one)."""
    for _ in range(100):
        path = os.path.join(parent, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            return path, make(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")  # pragma: no cover - 100 collisions of 32 bits


def _open_new(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)


def check_target(path: str | os.PathLike, *, directory: bool = False,
                 replaceable: tuple[str, Callable[[str], bool]] | None = None) -> str:
    """The absolute target path, or a NetcError when it cannot be written (checked before any work).

    An existing ``directory`` target is replaced only when ``replaceable`` (a description and a test of the
    directory, e.g. "an earlier Triton model version") says so; by default, an empty directory or a SavedModel."""
    shown = os.fspath(path)
    path = os.path.abspath(shown)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        folder = os.path.dirname(shown.rstrip("/" + os.sep)) or "."
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise NetcError(f"cannot write `{shown}`: the folder `{folder}` {what}")
    if not directory and os.path.isdir(path):
        raise NetcError(f"cannot write `{shown}`: it is a directory")
    if directory and os.path.lexists(path):
        if os.path.islink(path) or not os.path.isdir(path):
            what = "the SavedModel directory" if replaceable is None else "the directory"
            raise NetcError(f"cannot write {what} `{shown}`: a file or link of that name exists")
        if replaceable is not None and not replaceable[1](path):
            raise NetcError(f"cannot write `{shown}`: the directory exists and is not {replaceable[0]}; netc "
                            f"replaces only an empty directory or {replaceable[0]}: move it away or name another")
        if replaceable is None and not savedmodel_or_empty(path):
            raise NetcError(f"cannot write the SavedModel directory `{shown}`: it exists and is not a SavedModel "
                            f"(no `saved_model.pb`); netc replaces only an empty directory or an earlier "
                            f"SavedModel: name a new directory, e.g. `{os.path.join(shown, 'saved_model')}`")
    if not os.access(os.path.dirname(path), os.W_OK | os.X_OK):
        raise NetcError(f"cannot write `{shown}`: its folder is not writable")
    return path


def savedmodel_or_empty(path: str) -> bool:
    """An existing directory netc may replace wholesale: empty, or a SavedModel (never a folder of other files)."""
    entries = dir_entries(path)
    return entries is not None and (not entries or "saved_model.pb" in entries)


def dir_entries(path: str) -> set[str] | None:
    """The names in directory ``path`` (None when it cannot be listed)."""
    try:
        return set(os.listdir(path))
    except OSError:
        return None


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(temp_path, binary file)``; on success the file replaces ``path`` with mode 0666 & ~umask.

    Writers that need a path rather than a file object (Keras' ``model.save``) may close the file and write
    to ``temp_path`` themselves."""
    target = check_target(path)
    try:
        tmp, fd = _create(os.path.dirname(target), f".{os.path.basename(target)}.", suffix, _open_new)
    except OSError as err:
        raise NetcError(f"cannot write `{target}`: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield tmp, fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike,
               replaceable: tuple[str, Callable[[str], bool]] | None = None) -> Iterator[str]:
    """Yield a temporary directory path; on success it replaces the directory ``path`` (mode 0777 & ~umask).

    The yielded directory exists and is empty. ``replaceable``: see :func:`check_target`."""
    target = check_target(path, directory=True, replaceable=replaceable)
    parent, base = os.path.split(target)
    try:
        tmp, _ = _create(parent, f".{base}.", "", lambda p: os.mkdir(p, 0o777))
    except OSError as err:
        raise NetcError(f"cannot write `{target}`: {err.strerror or err}") from None
    try:
        yield tmp
        _swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_dir(new: str, target: str) -> None:
    """Put ``new`` in the place of ``target``; an existing target is moved aside, then removed."""
    if not os.path.lexists(target):
        os.replace(new, target)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old.", dir=os.path.dirname(target))
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.unlink(old)
