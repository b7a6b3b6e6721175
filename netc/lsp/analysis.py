"""One document read and checked: the recovering parse, the partial analysis, plugins; never raises."""
from __future__ import annotations

import dataclasses
import os
import re
import traceback
from dataclasses import dataclass, field

from netc import ast
from netc.diagnostics import Diagnostic, NetcError, Span
from netc.registry import Registry

_REGISTRIES: dict[tuple, Registry | NetcError] = {}


@dataclass
class Analysis:
    """What the server knows of one version of a document."""

    path: str
    text: str
    form: str                                  # "net" or "yaml"
    lines: list[str]                           # as the editor counts them (convert.Lines: LSP positions)
    registry: Registry
    spec: ast.Spec | None = None               # as written (templates not expanded); None: unreadable
    partial: object | None = None              # netc.semantic.partial.PartialModel
    diagnostics: list[Diagnostic] = field(default_factory=list)


def registry(plugins: tuple[str, ...]) -> Registry | NetcError:
    """The registry with ``plugins`` loaded (cached per file list and modification times)."""
    from netc.plugins import registry_for
    key = tuple((p, os.path.getmtime(p) if os.path.isfile(p) else None) for p in plugins)
    if key not in _REGISTRIES:
        try:
            _REGISTRIES[key] = registry_for(list(plugins))
        except NetcError as err:
            _REGISTRIES[key] = err
    return _REGISTRIES[key]


_COMMENT = re.compile(r"//[^\n]*")


def _key(text: str, form: str, plugins: tuple[str, ...]) -> tuple:
    """What the analysis of a text depends on: a `.net` text without its comments (typing in a comment
    changes nothing but where the last non-blank character is, which a missing output is reported after)."""
    if form != "net":
        return form, text, plugins
    bare = _COMMENT.sub("", text)
    kept = text.rstrip()
    return form, bare, kept.count("\n"), len(kept) - kept.rfind("\n"), plugins


def analyse(text: str, path: str, plugins: tuple[str, ...] = (), memo: dict | None = None) -> Analysis:
    """Read and check ``text`` (the document at ``path``); every problem becomes a diagnostic. ``memo``: a
    dict kept between the analyses of one document (the last result, parsed template lines)."""
    from netc.blocks import REGISTRY
    from netc.frontends.load import breaks_of, form_of
    from netc.lsp.convert import Lines
    form = form_of(path)
    lines = Lines(text, breaks_of(form))
    memo = {} if memo is None else memo
    key = (path, _key(text, form, plugins))
    last = memo.get("last")
    if last is not None and last[0] == key:
        return dataclasses.replace(last[1], text=text, lines=lines)
    out = Analysis(path, text, form, lines, REGISTRY)
    try:
        reg = registry(plugins)
        if isinstance(reg, NetcError):
            out.diagnostics = [Diagnostic(f"plugins: {d.message}" + (f" ({d.span})" if d.span else ""), None,
                                          notes=list(d.notes)) for d in reg.diagnostics]
            reg = REGISTRY
        out.registry = reg
        _check(out, reg, memo.setdefault("parsed", {}))
    except RecursionError:
        out.diagnostics.append(Diagnostic("the spec nests too deeply to analyse", Span(path, 1, 1)))
    except Exception as err:  # noqa: BLE001 - netc's bug: shown, never a crash of the server
        where = traceback.extract_tb(err.__traceback__)[-1]
        out.diagnostics.append(Diagnostic(f"netc internal error: {type(err).__name__}: {err} "
                                          f"({os.path.basename(where.filename)}:{where.lineno})", Span(path, 1, 1)))
    memo["last"] = (key, out)
    return out


def _check(out: Analysis, reg: Registry, parsed: dict) -> None:
    from netc.frontends.load import parse_source_recovering
    from netc.semantic.partial import analyze_partial
    text = out.text[1:] if out.text.startswith("\ufeff") else out.text
    spec, errors, lost = parse_source_recovering(text, out.path, out.form)
    if spec is None:
        out.diagnostics += [d for e in errors for d in e.diagnostics]
        return
    out.spec = spec
    out.partial = analyze_partial(spec, registry=reg, lost=lost, errors=errors, parsed=parsed)
    out.diagnostics += out.partial.diagnostics
