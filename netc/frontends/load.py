"""Read a spec file (or text) of either form into the AST, with located errors for bad files."""
from __future__ import annotations

import os
import re

from netc import ast
from netc.diagnostics import NET_BREAKS, YAML_BREAKS, NetcError, SourceCache, Span
from netc.frontends.text import parse_text
from netc.frontends.yaml_form import parse_yaml

YAML_SUFFIXES = (".yaml", ".yml")


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or an error located at the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        head = data[: err.start].decode("utf-8")   # valid up to the first bad byte; columns count characters
        line = head.count("\n") + 1
        col = len(head) - (head.rfind("\n") + 1) + 1
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
    if fmt is None:
        fmt = "yaml" if file.lower().endswith(YAML_SUFFIXES) else "net"
    breaks, comment = (YAML_BREAKS, "#") if fmt == "yaml" else (NET_BREAKS, "//")
    SourceCache.register(file, text, breaks)
    if all(not ln.strip() or ln.lstrip().startswith(comment) for ln in re.split(breaks, text)):
        raise NetcError("empty spec: it defines no inputs, stacks or outputs", Span(file, 1, 1))
    return parse_yaml(text, file) if fmt == "yaml" else parse_text(text, file)


def load_spec(path: str) -> ast.Spec:
    return parse_source(read_file(path), path)
