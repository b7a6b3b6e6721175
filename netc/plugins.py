"""User blocks: plugins that register block types, ops, argument codes or modules in a per-compilation
registry layered over the built-ins, so that nothing a plugin registers outlives its compilation.

A plugin is a Python module with ``register(reg: netc.registry.Registry) -> None``. It loads only when
installed (an entry point in the group ``netc.blocks``) or named (``--plugin file.py``); never from the
spec's folder. A name registered twice is a NetcError located at the plugin's registering line.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from typing import Callable, Iterable

from netc.diagnostics import NetcError, Span
from netc.registry import Registry, RegistryClash

GROUP = "netc.blocks"
_ENTRY_POINTS: list | None = None


def _entry_points() -> list:
    """The installed `netc.blocks` entry points (read once a process)."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        _ENTRY_POINTS = sorted(_scan(), key=lambda ep: ep.name)
    return _ENTRY_POINTS


def _scan() -> list:
    """The `netc.blocks` entry points, as ``importlib.metadata.entry_points(group=...)`` finds them, but
    parsing only the distributions whose entry_points.txt mentions the group (a plain scan of every
    installed distribution costs about 70 ms, a fifth of `netc summary`)."""
    import glob
    found, seen = [], set()
    for base in sys.path:
        if not base or not os.path.isdir(base):
            continue
        for path in glob.glob(os.path.join(glob.escape(base), "*.*-info", "entry_points.txt")):
            try:
                with open(path, encoding="utf-8") as fh:
                    if f"[{GROUP}]" not in fh.read():
                        continue
            except OSError:
                continue
            from importlib.metadata import Distribution
            dist = Distribution.at(os.path.dirname(path))
            name = (dist.metadata["Name"] or path).lower().replace("-", "_")
            if name in seen:   # the first on sys.path wins, as for imports
                continue
            seen.add(name)
            found += [ep for ep in dist.entry_points if ep.group == GROUP]
    return found


def _register_fn(obj, where: str) -> Callable[[Registry], None]:
    fn = getattr(obj, "register", obj)
    if not callable(fn):
        raise NetcError(f"plugin {where} has no `register(reg)` function")
    return fn


def _located(err: Exception, where: str, file: str | None) -> NetcError:
    """The clash as a NetcError at the plugin's line that registered the name (the innermost frame in it)."""
    span = None
    frames = traceback.extract_tb(err.__traceback__)
    for fr in reversed(frames):
        if file is not None and os.path.abspath(fr.filename) == os.path.abspath(file) or \
                file is None and "netc" + os.sep not in fr.filename:
            span = Span(fr.filename, fr.lineno or 1, (fr.colno or 0) + 1)
            break
    e = NetcError(f"plugin {where}: {err}", span)
    if span is not None and os.path.exists(span.file):
        with open(span.file, encoding="utf-8", errors="replace") as fh:
            e.with_source(span.file, fh.read().splitlines())
    return e


def _run(fn: Callable[[Registry], None], reg: Registry, where: str, file: str | None) -> None:
    """Call a plugin's ``register``; anything it raises is the plugin's mistake, reported at its line (exit 2)."""
    try:
        fn(reg)
    except NetcError:
        raise
    except Exception as err:  # noqa: BLE001 - a plugin's own error, never netc's
        raise _located(err if isinstance(err, RegistryClash) else _Described(err), where, file) from None


class _Described(Exception):
    """A plugin's exception, its type named in the message (``KeyError: 'x'`` rather than ``'x'``)."""

    def __init__(self, err: Exception):
        super().__init__(f"{type(err).__name__}: {err}")
        self.__traceback__ = err.__traceback__


def load_file(path: str) -> Callable[[Registry], None]:
    """The ``register`` function of a plugin file (imported under a private module name)."""
    if not os.path.isfile(path):
        raise NetcError(f"--plugin: no such file: `{path}`")
    name = "netc_plugin_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NetcError(f"--plugin: `{path}` is not a Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as err:
        raise NetcError(f"plugin `{path}`: {err.msg}", Span(path, err.lineno or 1, err.offset or 1)) from None
    except Exception as err:  # noqa: BLE001 - importing the plugin failed: its mistake (a missing module...)
        raise _located(_Described(err), f"`{path}` cannot be imported", path) from None
    return _register_fn(mod, f"`{path}`")


def registry_for(plugin_files: Iterable[str] = ()) -> Registry:
    """The registry of one compilation: the built-ins, and over them the installed and named plugins.
    Without any plugin this is the built-in registry itself (the default path stays as fast as before)."""
    from netc.blocks import REGISTRY
    files = list(plugin_files)
    eps = _entry_points()
    if not files and not eps:
        return REGISTRY
    reg = REGISTRY.layered()
    for ep in eps:
        try:
            fn = _register_fn(ep.load(), f"`{ep.name}` (entry point {ep.value})")
        except Exception as err:  # noqa: BLE001 - the installed plugin's mistake
            raise NetcError(f"plugin `{ep.name}` (entry point {ep.value}) cannot be imported: "
                            f"{type(err).__name__}: {err}") from None
        _run(fn, reg, f"`{ep.name}` (entry point {ep.value})", None)
    for path in files:
        _run(load_file(path), reg, f"`{path}`", path)
    return reg


_ACTIVE: "contextvars.ContextVar[tuple[str, ...]]"
import contextlib  # noqa: E402
import contextvars  # noqa: E402

_ACTIVE = contextvars.ContextVar("netc_plugin_files", default=())


@contextlib.contextmanager
def named(files: Iterable[str]):
    """Within this block, compilations that are given no plugin list use ``files`` (the CLI's `--plugin`)."""
    token = _ACTIVE.set(tuple(files))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_files() -> tuple[str, ...]:
    return _ACTIVE.get()
