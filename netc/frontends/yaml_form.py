"""The YAML frontend: the seed's Python dict as YAML -> the same AST, with file positions.

Read with PyYAML's safe composer (nodes keep line/column marks); block strings go through
the `.net` grammar's ``one_block`` rule.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor

from netc import ast
from netc.diagnostics import YAML_BREAKS, DiagnosticBag, NetcError, Span, did_you_mean, printable
from netc.frontends.text import parse_block_string, parse_input_string, set_scale

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
INT = "tag:yaml.org,2002:int"
KEYS = ("model_def", "model_ins", "model_outs", "in_chs", "input_size", "width_multiplier", "depth_multiplier",
        "templates")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*#")   # the `.net` grammar's HASHNAME


MAX_DEPTH = 64   # nesting of YAML lists/mappings; a spec needs 4 (PyYAML's composer recurses per level)


class _DepthError(Exception):
    def __init__(self, mark):
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_DEPTH before its recursive composer overflows."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _DepthError(self.peek_event().start_mark)
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


def _span(file: str, node: yaml.Node) -> Span:
    m, e = node.start_mark, node.end_mark
    end_col = e.column + 1 if e.line == m.line else None
    return Span(file, m.line + 1, m.column + 1, e.line + 1, end_col)


@dataclass(frozen=True)
class _WholeScalar(Span):
    """A scalar written differently from its value (escapes, a string folded over lines): a place inside the
    value has no column of its own, so every place inside it is the whole scalar."""

    def shifted(self, offset: int, length: int | None = None) -> Span:
        return Span(self.file, self.line, self.col, self.end_line, self.end_col)


def _text_span(file: str, node: yaml.ScalarNode, source: str | None = None) -> Span:
    """Where the scalar's text starts (after an opening quote). With ``source``, a scalar whose text is not
    its value verbatim gets a span that block-string positions cannot shift off into the wrong column."""
    s = _span(file, node)
    off = 1 if node.style in ("'", '"') else 0
    if source is not None and source[node.start_mark.index + off:node.end_mark.index - off] != node.value:
        return _WholeScalar(s.file, s.line, s.col, s.end_line, s.end_col)
    return Span(s.file, s.line, s.col + off, s.line, s.col + off + len(node.value))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return {STR: "a string", INT: "a number", NULL: "null", "tag:yaml.org,2002:float": "a number",
            "tag:yaml.org,2002:bool": "a boolean"}.get(node.tag, "a value")


def _expect(node: yaml.Node, cls: type, what: str, file: str) -> None:
    if not isinstance(node, cls) or (cls is yaml.ScalarNode and node.tag != STR):
        raise NetcError(f"expected {what}, found {_kind(node)}", _span(file, node))


def _string(node: yaml.Node, what: str, file: str) -> str:
    _expect(node, yaml.ScalarNode, what, file)
    return node.value


def _name(node: yaml.Node, what: str, file: str) -> str:
    """A stack or input-stack name: what the `.net` form can write too (`backbone#`)."""
    name = _string(node, what, file)
    if not NAME.fullmatch(name):
        hint = f"; did you mean `{name}#`?" if NAME.fullmatch(name + "#") else ""
        raise NetcError(f"`{name}` is not a name: a name is letters, digits and `_`, ending in `#` "
                        f"(e.g. `backbone#`){hint}", _text_span(file, node))
    return name


def _int(node: yaml.ScalarNode, what: str, file: str) -> int:
    if len(node.value) > 18:   # past every limit, and what int() reads
        raise NetcError(f"`{what}`: `{node.value[:12]}...` is beyond any limit", _span(file, node))
    try:
        return SafeConstructor().construct_yaml_int(node)   # YAML's own reading: `0x10`, `1_000`, `1:30`
    except ValueError:   # an explicit `!!int` on something else
        raise NetcError(f"`{what}` must hold integers, found `{node.value}`", _span(file, node)) from None


def _int_list(node: yaml.Node, what: str, file: str, allow_null: bool = False) -> list[int] | None:
    if allow_null and isinstance(node, yaml.ScalarNode) and node.tag == NULL:
        return None
    if not isinstance(node, yaml.SequenceNode):
        raise NetcError(f"`{what}` must be a list of integers, found {_kind(node)}", _span(file, node))
    out = []
    for item in node.value:
        if not (isinstance(item, yaml.ScalarNode) and item.tag == INT):
            if allow_null and isinstance(item, yaml.ScalarNode) and item.tag == NULL:
                out.append(None)
                continue
            raise NetcError(f"`{what}` must hold integers, found {_kind(item)}", _span(file, item))
        value = _int(item, what, file)
        if value < 1:
            raise NetcError(f"`{what}` must hold positive integers, found {value}", _span(file, item))
        out.append(value)
    return out


def _mapping(node: yaml.MappingNode, file: str, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    seen: dict[str, Span] = {}
    for k, _ in node.value:
        key = _name(k, f"a {what} name", file) if what == "stack" else _string(k, f"a {what} name", file)
        if key in seen:
            raise NetcError(f"duplicate {what} `{key}` (first defined at line {seen[key].line})", _span(file, k))
        seen[key] = _span(file, k)
    return node.value


def parse_yaml(text: str, file: str) -> ast.Spec:
    """Parse the YAML form of a spec."""
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _DepthError as err:
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
    from netc.frontends.modular import is_modular, parse_modular
    if is_modular(root):
        return parse_modular(root, text, file)
    if root is None:
        raise NetcError("empty spec: expected a mapping with `model_def`, `model_ins`, `model_outs`, `in_chs`",
                        Span(file, 1, 1))
    if not isinstance(root, yaml.MappingNode):
        raise NetcError(f"expected a mapping with `model_def`, `model_ins`, `model_outs`, `in_chs`, "
                        f"found {_kind(root)}", _span(file, root))
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in _mapping(root, file, "key"):
        if k.value not in KEYS:
            raise NetcError(f"unknown key `{k.value}`{did_you_mean(k.value, KEYS)}", _span(file, k),
                            notes=[f"the keys are {', '.join(KEYS)}"])
        fields[k.value] = (k, v)
    root_span = _span(file, root)
    for key in ("model_def", "model_ins", "model_outs"):
        if key not in fields:
            raise NetcError(f"missing key `{key}`", Span(file, root_span.line, root_span.col))
    spec = ast.Spec(file=file, source_format="yaml")
    if "templates" in fields:   # the `.net` notation's templates, in a `|` block (as in the modular form)
        from netc.frontends.modular import templates_block
        node = fields["templates"][1]
        spec.templates = templates_block(_string(node, "templates in the notation (a `|` block of "
                                                       "`template NAME_p_q:` lines)", file), node, file, text)
    ins_node = fields["model_ins"][1]
    spec.input_stack = _name(ins_node, "the input stack's name (`model_ins`)", file)
    spec.input_stack_span = _text_span(file, ins_node)

    bag = DiagnosticBag()
    defs = fields["model_def"][1]
    if not isinstance(defs, yaml.MappingNode):
        raise NetcError(f"`model_def` must map stack names to lists of lists of block strings, "
                        f"found {_kind(defs)}", _span(file, defs))
    found_inputs, inputs_ok, n_inputs = False, True, 0   # inputs_ok: `in_chs` can be checked against them
    n_strings, max_strings = 0, len(text) // 3 + 16   # a block string written out takes 3 characters at least
    for k, v in _mapping(defs, file, "stack"):
        name = k.value
        found_inputs |= name == spec.input_stack
        try:
            groups = _groups(v, name, file)
        except NetcError as err:   # independent of the other stacks: report them too
            bag.add(err)
            inputs_ok &= name != spec.input_stack
            continue
        n_strings += sum(len(g) for g in groups)
        if n_strings > max_strings:   # aliases (`*a`) repeating lists: refuse before parsing them all
            bag.add(NetcError(f"stack `{name}` brings the spec to {n_strings:,} block strings from "
                              f"{len(text):,} characters: YAML aliases (`*name`) repeat lists of block strings "
                              f"beyond what a spec writes out; write the blocks out", _span(file, v)))
            break
        if name == spec.input_stack:
            for group in groups:
                line = []
                for item in group:
                    try:
                        decl = parse_input_string(item.value, _text_span(file, item, text))
                        if decl.channels is not None:
                            raise NetcError("a YAML input is `name#` or `name#op`: its channels come from `in_chs` "
                                            "and its size from `input_size`", _span(file, item))
                        line.append(decl)
                    except NetcError as err:
                        bag.add(err)
                    n_inputs += 1
                spec.input_lines.append(line)
            continue
        stack = ast.Stack(name, _text_span(file, k))
        for group in groups:
            line = []
            for item in group:
                try:
                    line.append(parse_block_string(item.value, _text_span(file, item, text)))
                except NetcError as err:
                    bag.add(err)
            stack.lines.append(line)
        spec.stacks.append(stack)
    if not found_inputs:
        inputs_ok = False
        bag.add(NetcError(f"`model_ins` names `{spec.input_stack}`, but `model_def` has no such stack"
                          f"{did_you_mean(spec.input_stack, [k.value for k, _ in defs.value])}",
                          spec.input_stack_span))
    try:
        _outputs(spec, fields["model_outs"][1], file)
    except NetcError as err:
        bag.add(err)
    for word in ("width", "depth"):
        if f"{word}_multiplier" in fields:
            node = fields[f"{word}_multiplier"][1]
            try:
                set_scale(spec, word, str(node.value) if isinstance(node, yaml.ScalarNode) else "", _span(file, node))
            except NetcError as err:
                bag.add(err)
    if inputs_ok:
        try:
            _attach_sizes(spec, fields, file, n_inputs)
        except NetcError as err:
            bag.add(err)
    bag.raise_if_any()
    return spec


def _outputs(spec: ast.Spec, outs: yaml.Node, file: str) -> None:
    spec.outputs_span = _span(file, outs)
    if isinstance(outs, yaml.ScalarNode) and outs.tag == STR:
        outs_items = [outs]
    elif isinstance(outs, yaml.SequenceNode):
        outs_items = outs.value
    else:
        raise NetcError(f"`model_outs` must be a list of stack names, found {_kind(outs)}", _span(file, outs))
    for item in outs_items:
        spec.outputs.append(ast.Ref(_name(item, "a stack name in `model_outs`", file), _text_span(file, item)))


def _groups(node: yaml.Node, stack: str, file: str) -> list[list[yaml.ScalarNode]]:
    if not isinstance(node, yaml.SequenceNode):
        raise NetcError(f"stack `{stack}` must be a list of lists of block strings, found {_kind(node)}",
                        _span(file, node))
    groups = []
    for g in node.value:
        if not isinstance(g, yaml.SequenceNode):
            hint = " (write it inside brackets: `[...]`)" if isinstance(g, yaml.ScalarNode) and g.tag == STR else ""
            raise NetcError(f"each entry of stack `{stack}` must be a list of block strings, "
                            f"found {_kind(g)}{hint}", _span(file, g))
        for item in g.value:
            _expect(item, yaml.ScalarNode, "a block string", file)
        groups.append(g.value)
    return groups


def _attach_sizes(spec: ast.Spec, fields: dict, file: str, n_inputs: int) -> None:
    """Channels and size of each input; ``n_inputs`` counts the input strings, parsed or not."""
    inputs = spec.inputs
    if "in_chs" not in fields:
        raise NetcError("missing key `in_chs` (the channels of each input)", spec.input_stack_span)
    chs_node = fields["in_chs"][1]
    chs = _int_list(chs_node, "in_chs", file)
    if len(chs) != n_inputs:
        raise NetcError(f"`in_chs` has {len(chs)} entr{'y' if len(chs) == 1 else 'ies'} but `{spec.input_stack}` "
                        f"declares {n_inputs} input{'s' if n_inputs != 1 else ''}", _span(file, chs_node))
    size = None
    if "input_size" in fields:
        node = fields["input_size"][1]
        size = _int_list(node, "input_size", file, allow_null=True)
        if size is not None and len(size) != 2:
            raise NetcError(f"`input_size` must be [H, W], found {len(size)} values", _span(file, node))
    dims = [_span(file, n) for n in fields["input_size"][1].value] if size is not None else [None, None]
    for decl, c, item in zip(inputs, chs, chs_node.value):
        decl.channels = c
        decl.size = (size[0], size[1]) if size is not None else (None, None)
        decl.size_spans = (dims[0], dims[1], _span(file, item))
