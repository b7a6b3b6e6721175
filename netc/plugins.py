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
    except (Exception, SystemExit) as err:  # noqa: BLE001 - a plugin's own error, never netc's
        raise _located(err if isinstance(err, RegistryClash) else _Described(err), where, file) from None


class _Described(Exception):
    """A plugin's exception, its type named in the message (``KeyError: 'x'`` rather than ``'x'``)."""

    def __init__(self, err: Exception):
        super().__init__(f"{type(err).__name__}: {err}")
        self.__traceback__ = err.__traceback__


def _module_name(path: str) -> str:
    """The private module name of a plugin file: its stem, and a digest of its absolute path, so that two
    plugins of one basename in different folders are two modules in ``sys.modules``, not one."""
    import hashlib
    stem = os.path.splitext(os.path.basename(path))[0]
    digest = hashlib.blake2s(os.path.abspath(path).encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
    return "netc_plugin_" + "".join(c if c.isalnum() else "_" for c in stem) + "_" + digest


def load_file(path: str) -> Callable[[Registry], None]:
    """The ``register`` function of a plugin file (imported under a private module name)."""
    if not os.path.isfile(path):
        raise NetcError(f"--plugin: no such file: `{path}`")
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NetcError(f"--plugin: `{path}` is not a Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as err:
        raise NetcError(f"plugin `{path}`: {err.msg}", Span(path, err.lineno or 1, err.offset or 1)) from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - importing the plugin failed: its mistake (a missing module...)
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
    sources: list[str] = []
    for ep in eps:
        try:
            obj = ep.load()
            fn = _register_fn(obj, f"`{ep.name}` (entry point {ep.value})")
        except (Exception, SystemExit) as err:  # noqa: BLE001 - the installed plugin's mistake
            raise NetcError(f"plugin `{ep.name}` (entry point {ep.value}) cannot be imported: "
                            f"{type(err).__name__}: {err}") from None
        sources += _source_of(obj)
        _run(fn, reg, f"`{ep.name}` (entry point {ep.value})", None)
    for path in files:
        sources.append(os.path.abspath(path))
        _run(load_file(path), reg, f"`{path}`", path)
    reg.plugin_sources = tuple(sources)
    return reg


def _source_of(obj) -> list[str]:
    """The file of an installed plugin's module, or its package folder (all of a package's code is the plugin's)."""
    import inspect
    mod = inspect.getmodule(obj)
    file = getattr(mod, "__file__", None)
    if not file:
        return []
    file = os.path.abspath(file)
    if os.path.basename(file) == "__init__.py":
        return [os.path.dirname(file) + os.sep]
    top = sys.modules.get((mod.__name__ or "").partition(".")[0])
    top_file = getattr(top, "__file__", None)
    if top_file and os.path.basename(top_file) == "__init__.py":
        return [os.path.dirname(os.path.abspath(top_file)) + os.sep]
    return [file]


def plugin_frame(err: BaseException, reg: Registry | None) -> traceback.FrameSummary | None:
    """The innermost frame of ``err``'s traceback that runs a plugin's code of ``reg`` (None when the
    exception never passed through a plugin: then it is netc's own)."""
    if reg is None or not reg.plugin_sources:
        return None
    for fr in reversed(traceback.extract_tb(err.__traceback__)):
        f = os.path.abspath(fr.filename)
        if any(f == s or s.endswith(os.sep) and f.startswith(s) for s in reg.plugin_sources):
            return fr
    return None


def guarded_call(reg: Registry | None, what: str, span: Span | None, fn: Callable, *args, plugin_entry: bool = False):
    """Call ``fn(*args)``, code that is or may run a plugin's (a plugin block's ``lower``, ``warnings`` or
    ``check``; a built-in block using a plugin's activation). An exception that passed through a plugin's
    code (or any from a ``plugin_entry``) is the plugin author's mistake: a NetcError at ``span`` saying
    ``what`` failed, with the plugin's line as a note. Anything else is netc's and propagates."""
    try:
        return fn(*args)
    except NetcError:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001 - sorted below: the plugin's mistake or netc's bug
        frame = plugin_frame(err, reg)
        if frame is None and not plugin_entry:
            raise
        notes = [f"raised at {frame.filename}:{frame.lineno}" + (f": `{frame.line}`" if frame.line else "")] \
            if frame is not None else []
        raise NetcError(f"{what}: {type(err).__name__}: {err}", span, notes=notes) from None


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
