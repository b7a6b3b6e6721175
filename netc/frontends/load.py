"""Read a spec file (or text) of either form into the AST, with located errors for bad files."""
from __future__ import annotations

import os

from netc import ast
from netc.diagnostics import NetcError, SourceCache, Span
from netc.frontends.text import parse_text
from netc.frontends.yaml_form import parse_yaml

YAML_SUFFIXES = (".yaml", ".yml")


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or an error located at the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        head = data[: err.start]
        line = head.count(b"\n") + 1
        col = len(head) - (head.rfind(b"\n") + 1) + 1
        SourceCache.register(file, data.decode("utf-8", "replace"))
        raise NetcError(f"the file is not UTF-8 text (byte 0x{data[err.start]:02x})", Span(file, line, col)) from None
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


def parse_source(text: str, file: str, fmt: str | None = None) -> ast.Spec:
    """Parse spec text; ``fmt`` is "net" or "yaml" (default: from the file name)."""
    SourceCache.register(file, text)
    if fmt is None:
        fmt = "yaml" if file.lower().endswith(YAML_SUFFIXES) else "net"
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith(("//", "#")) for ln in text.splitlines()):
        raise NetcError("empty spec: it defines no inputs, stacks or outputs", Span(file, 1, 1))
    return parse_yaml(text, file) if fmt == "yaml" else parse_text(text, file)


def load_spec(path: str) -> ast.Spec:
    return parse_source(read_file(path), path)
