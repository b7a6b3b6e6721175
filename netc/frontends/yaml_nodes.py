"""PyYAML nodes as both YAML forms read them: composing with bounded depth, node positions as spans, what a
node is called in messages, and the notation's templates written in a `|` block."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import yaml

from netc import ast
from netc.diagnostics import YAML_BREAKS, NetcError, Span, printable
from netc.frontends.text import split_templates

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
INT = "tag:yaml.org,2002:int"


class SpecWithErrors(NetcError):
    """Block strings that did not parse, raised with the spec read without them (each of their stacks
    ``broken``), so the semantic pass can report the model's own errors in the same round."""

    def __init__(self, errors: list, spec: ast.Spec):
        super().__init__(diagnostics=errors)
        self.spec = spec


MAX_DEPTH = 64   # nesting of YAML lists/mappings; a spec needs 4 (PyYAML's composer recurses per level)


class DepthError(Exception):
    def __init__(self, mark):
        self.mark = mark


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_DEPTH before its recursive composer overflows."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise DepthError(self.peek_event().start_mark)
        alias = self.peek_event() if self.check_event(yaml.AliasEvent) else None
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias is None:
            return node
        # an alias is the anchored node again; a shallow twin located at the alias places errors at the use
        twin = copy.copy(node)
        twin.start_mark, twin.end_mark, twin.alias_of = alias.start_mark, alias.end_mark, alias.anchor
        return twin


def node_span(file: str, node: yaml.Node) -> Span:
    m, e = node.start_mark, node.end_mark
    end_col = e.column + 1 if e.line == m.line else None
    return Span(file, m.line + 1, m.column + 1, e.line + 1, end_col)


@dataclass(frozen=True)
class WholeScalar(Span):
    """A scalar written differently from its value (escapes, a string folded over lines): a place inside the
    value has no column of its own, so every place inside it is the whole scalar."""

    def shifted(self, offset: int, length: int | None = None) -> Span:
        return Span(self.file, self.line, self.col, self.end_line, self.end_col)


def scalar_span(file: str, node: yaml.ScalarNode, source: str | None = None) -> Span:
    """Where the scalar's text starts (after an opening quote). With ``source``, a scalar whose text is not
    its value verbatim gets a span that block-string positions cannot shift off into the wrong column."""
    s = node_span(file, node)
    off = 1 if node.style in ("'", '"') else 0
    if source is not None and source[node.start_mark.index + off:node.end_mark.index - off] != node.value:
        return WholeScalar(s.file, s.line, s.col, s.end_line, s.end_col)
    return Span(s.file, s.line, s.col + off, s.line, s.col + off + len(node.value))


def node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return {STR: "a string", INT: "a number", NULL: "null", "tag:yaml.org,2002:float": "a number",
            "tag:yaml.org,2002:bool": "a boolean"}.get(node.tag, "a value")


def compose(text: str, file: str) -> yaml.Node | None:
    """The document's node tree (PyYAML's safe composer, nesting bounded); YAML errors as located NetcErrors."""
    try:
        root = yaml.compose(text, Loader=BoundedLoader)
    except DepthError as err:
        raise NetcError(f"YAML nested more than {MAX_DEPTH} levels deep; a spec nests 4 (a mapping of stacks, "
                        f"each a list of lists of block strings)",
                        Span(file, err.mark.line + 1, err.mark.column + 1)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        msg = f"YAML syntax error: {err.problem or err.context}"
        span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
        raise NetcError(msg, span) from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow; located by its position
        lines = re.split(YAML_BREAKS, text[:err.position])
        ch = printable(chr(err.character)) if isinstance(err.character, int) else str(err.character)
        raise NetcError(f"YAML does not allow the character `{ch}` ({err.reason})",
                        Span(file, len(lines), len(lines[-1]) + 1)) from None
    except yaml.YAMLError as err:  # pragma: no cover - every other YAML error carries a mark
        raise NetcError(f"YAML error: {err}", Span(file, 1, 1)) from None
    return root


def templates_block(body: str, node: yaml.ScalarNode, file: str, text: str) -> list[ast.Template]:
    """Templates written in the notation, in a `|` block (both YAML forms): lines counted from the node's first
    line, columns from the block's indentation."""
    if node.style != "|":
        raise NetcError("write `templates` as a literal block (`templates: |` and the template lines below)",
                        node_span(file, node))
    rest, templates = split_templates(body, file, YAML_BREAKS)   # lines as YAML counts them (U+2028 too)
    shift = node.start_mark.line + 1   # value line i is file line shift + i (the `|` stands on the line before)
    src = re.split(YAML_BREAKS, text)
    first = next((ln for ln in src[shift:] if ln.strip()), "")
    indent = len(first) - len(first.lstrip(" "))
    for i, line in enumerate(rest.split("\n")):
        stmt = line.split("//")[0].strip()
        if stmt:
            col = len(line) - len(line.lstrip()) + 1 + indent
            raise NetcError(f"`templates` holds `template NAME_p_q:` headers, each with its indented block lines; "
                            f"found `{stmt[:40]}`", Span(file, i + 1 + shift, col, i + 1 + shift, col + len(stmt)))
    out = []
    for t in templates:
        span = Span(file, t.span.line + shift, t.span.col + indent, t.span.line + shift,
                    t.span.col + indent + len(t.name))
        lines = [ast.TemplateLine(tl.text, tl.line + shift, tl.col + indent) for tl in t.lines]
        out.append(ast.Template(t.name, t.params, span, lines, t.header))
    return out
