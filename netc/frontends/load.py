"""Read a spec file (or text) of either form into the AST, with located errors for bad files."""
from __future__ import annotations

import os

from netc import ast
from netc.diagnostics import NET_BREAKS, YAML_BREAKS, NetcError, Span, split_lines
from netc.frontends.text import parse_text

YAML_SUFFIXES = (".yaml", ".yml")


def form_of(file: str) -> str:
    """"yaml" or "net", from the file name."""
    return "yaml" if file.lower().endswith(YAML_SUFFIXES) else "net"


def breaks_of(fmt: str) -> str:
    """The line breaks the parser of form ``fmt`` counts (a YAML reader also breaks at CR, NEL, U+2028/9)."""
    return YAML_BREAKS if fmt == "yaml" else NET_BREAKS


def decode(data: bytes, file: str, fmt: str | None = None) -> str:
    """UTF-8 text, or an error located at the first bad byte (lines counted as the form's parser counts them)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        breaks = breaks_of(fmt or form_of(file))
        head = split_lines(data[: err.start].decode("utf-8"), breaks)   # valid up to the first bad byte
        span = Span(file, len(head), len(head[-1]) + 1)                  # columns count characters
        raise NetcError(f"the file is not UTF-8 text (byte 0x{data[err.start]:02x})", span).with_source(
            file, split_lines(data.decode("utf-8", "replace"), breaks)) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_file(path: str) -> str:
    if os.path.isdir(path):
        raise NetcError(f"`{path}` is a directory, not a spec file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise NetcError(f"no such file: `{path}`") from None
    except OSError as err:
        raise NetcError(f"cannot read `{path}`: {err.strerror}") from None
    return decode(data, path)


def _end(file: str, lines: list[str]) -> Span:
    """Just past the last non-blank character: where a spec that stops too early is missing something."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            n = len(lines[i].rstrip())
            return Span(file, i + 1, n + 1, i + 1, n + 2)
    return Span(file, 1, 1)


def parse_source(text: str, file: str, fmt: str | None = None) -> ast.Spec:
    """Parse spec text; ``fmt`` is "net" or "yaml" (default: from the file name)."""
    fmt = fmt or form_of(file)
    comment = "#" if fmt == "yaml" else "//"
    lines = split_lines(text, breaks_of(fmt))
    try:
        if all(not ln.strip() or ln.lstrip().startswith(comment) for ln in lines):
            raise NetcError("empty spec: it defines no inputs, stacks or outputs", Span(file, 1, 1))
        spec = parse_yaml(text, file) if fmt == "yaml" else parse_text(text, file)
    except NetcError as err:
        if getattr(err, "spec", None) is not None:   # yaml_nodes.SpecWithErrors: the spec without what failed
            err.spec.lines, err.spec.end = lines, _end(file, lines)
        raise err.with_source(file, lines)
    spec.lines, spec.end = lines, _end(file, lines)
    return spec


def parse_yaml(text: str, file: str) -> ast.Spec:
    """Parse a YAML spec of either form: the modular one (a `net:` list of modules) or the stacks one."""
    from netc.frontends.modular import is_modular, parse_modular   # PyYAML loads only for YAML specs
    from netc.frontends.yaml_form import parse_stacks
    from netc.frontends.yaml_nodes import compose
    root = compose(text, file)
    return parse_modular(root, text, file) if is_modular(root) else parse_stacks(root, text, file)


def load_spec(path: str) -> ast.Spec:
    return parse_source(read_file(path), path)


def parse_source_recovering(text: str, file: str, fmt: str | None = None) -> tuple[ast.Spec | None, list[NetcError],
                                                                                  dict]:
    """Parse spec text going on past mistakes where the form allows (for editors): a `.net` file line by line
    (``recover.parse_text_recovering``); a YAML file of stacks past each bad block string or stack (a YAML
    syntax error, a modular file's mistake: no spec). Returns the spec (None when nothing could be read), the
    errors, and what the failed parts leave unknown."""
    fmt = fmt or form_of(file)
    comment = "#" if fmt == "yaml" else "//"
    lines = split_lines(text, breaks_of(fmt))
    lost: dict = {"names": [], "kinds": []}
    if all(not ln.strip() or ln.lstrip().startswith(comment) for ln in lines):
        return None, [NetcError("empty spec: it defines no inputs, stacks or outputs", Span(file, 1, 1))], lost
    if fmt == "yaml":
        from netc.frontends.modular import is_modular, parse_modular
        from netc.frontends.yaml_form import parse_stacks
        from netc.frontends.yaml_nodes import compose
        rec: dict = {"names": [], "errors": []}
        try:
            root = compose(text, file)
            spec = parse_modular(root, text, file) if is_modular(root) else parse_stacks(root, text, file, rec)
        except NetcError as err:
            return None, [err], lost
        errors = [NetcError(diagnostics=[d]) for d in rec["errors"]]
        lost = {"names": rec["names"], "kinds": ["yaml"] if rec["errors"] else []}
    else:
        from netc.frontends.recover import parse_text_recovering
        spec, errors, lost = parse_text_recovering(text, file)
    spec.lines, spec.end = lines, _end(file, lines)
    return spec, errors, lost
