"""Formatting through `netc fmt`: the canonical form of the document, as one edit (none if it does not parse)."""
from __future__ import annotations

from lsprotocol import types

from netc.diagnostics import NetcError
from netc.lsp.analysis import Analysis
from netc.lsp.convert import utf16


def formatted(an: Analysis) -> str | None:
    """What `netc fmt` prints for the document in its own form, or None when it does not parse."""
    from netc.frontends.fmt import to_net, to_yaml
    from netc.frontends.load import parse_source
    try:
        spec = parse_source(an.text, an.path, an.form)
    except NetcError:
        return None
    if spec.modular is not None:
        from netc.frontends.modular import to_modular_yaml
        return to_modular_yaml(spec.modular)
    return to_yaml(spec) if an.form == "yaml" else to_net(spec)


def edits(an: Analysis) -> list[types.TextEdit]:
    text = formatted(an)
    if text is None or text == an.text:
        return []
    last = len(an.lines) - 1
    end = types.Position(last, utf16(an.lines[last], len(an.lines[last])))
    return [types.TextEdit(types.Range(types.Position(0, 0), end), text)]
