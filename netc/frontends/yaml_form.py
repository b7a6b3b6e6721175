"""The YAML frontend: the seed's Python dict as YAML -> the same AST, with file positions.

Composed by :func:`netc.frontends.yaml_nodes.compose` (nodes keep line/column marks; the form is chosen in
:mod:`netc.frontends.load`); block strings go through the `.net` grammar's ``one_block`` rule.
"""
from __future__ import annotations

import re

import yaml
from yaml.constructor import SafeConstructor

from netc import ast
from netc.diagnostics import DiagnosticBag, NetcError, Span, did_you_mean
from netc.frontends.scale import set_rounding, set_scale
from netc.frontends.text import parse_block_string, parse_input_string
from netc.frontends.yaml_nodes import (INT, NULL, STR, SpecWithErrors, node_kind, node_span, scalar_span,
                                       templates_block)
from netc.semantic.multipliers import SCALE_WORDS

KEYS = ("model_def", "model_ins", "model_outs", "in_chs", "input_size", "width_multiplier", "width_rounding",
        "depth_multiplier", "depth_schedule", "templates")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*#")   # the `.net` grammar's HASHNAME


def _expect(node: yaml.Node, cls: type, what: str, file: str) -> None:
    if not isinstance(node, cls) or (cls is yaml.ScalarNode and node.tag != STR):
        raise NetcError(f"expected {what}, found {node_kind(node)}", node_span(file, node))


def _string(node: yaml.Node, what: str, file: str) -> str:
    _expect(node, yaml.ScalarNode, what, file)
    return node.value


def _name(node: yaml.Node, what: str, file: str) -> str:
    """A stack or input-stack name: what the `.net` form can write too (`backbone#`)."""
    name = _string(node, what, file)
    if not NAME.fullmatch(name):
        hint = f"; did you mean `{name}#`?" if NAME.fullmatch(name + "#") else ""
        raise NetcError(f"`{name}` is not a name: a name is letters, digits and `_`, ending in `#` "
                        f"(e.g. `backbone#`){hint}", scalar_span(file, node))
    return name


def _int(node: yaml.ScalarNode, what: str, file: str) -> int:
    if len(node.value) > 18:   # past every limit, and what int() reads
        raise NetcError(f"`{what}`: `{node.value[:12]}...` is beyond any limit", node_span(file, node))
    try:
        return SafeConstructor().construct_yaml_int(node)   # YAML's own reading: `0x10`, `1_000`, `1:30`
    except ValueError:   # an explicit `!!int` on something else
        raise NetcError(f"`{what}` must hold integers, found `{node.value}`", node_span(file, node)) from None


def _int_list(node: yaml.Node, what: str, file: str, allow_null: bool = False) -> list[int] | None:
    if allow_null and isinstance(node, yaml.ScalarNode) and node.tag == NULL:
        return None
    if not isinstance(node, yaml.SequenceNode):
        raise NetcError(f"`{what}` must be a list of integers, found {node_kind(node)}", node_span(file, node))
    out = []
    for item in node.value:
        if not (isinstance(item, yaml.ScalarNode) and item.tag == INT):
            if allow_null and isinstance(item, yaml.ScalarNode) and item.tag == NULL:
                out.append(None)
                continue
            raise NetcError(f"`{what}` must hold integers, found {node_kind(item)}", node_span(file, item))
        value = _int(item, what, file)
        if value < 1:
            raise NetcError(f"`{what}` must hold positive integers, found {value}", node_span(file, item))
        out.append(value)
    return out


def _mapping(node: yaml.MappingNode, file: str, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    seen: dict[str, Span] = {}
    for k, _ in node.value:
        key = _name(k, f"a {what} name", file) if what == "stack" else _string(k, f"a {what} name", file)
        if key in seen:
            raise NetcError(f"duplicate {what} `{key}` (first defined at line {seen[key].line})", node_span(file, k))
        seen[key] = node_span(file, k)
    return node.value


def parse_stacks(root: yaml.Node | None, text: str, file: str, recover: dict | None = None) -> ast.Spec:
    """Lower the stacks form of a YAML spec (a document already composed, :func:`netc.frontends.yaml_nodes.compose`)."""
    if root is None:
        raise NetcError("empty spec: expected a mapping with `model_def`, `model_ins`, `model_outs`, `in_chs`",
                        Span(file, 1, 1))
    if not isinstance(root, yaml.MappingNode):
        raise NetcError(f"expected a mapping with `model_def`, `model_ins`, `model_outs`, `in_chs`, "
                        f"found {node_kind(root)}", node_span(file, root))
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in _mapping(root, file, "key"):
        if k.value not in KEYS:
            raise NetcError(f"unknown key `{k.value}`{did_you_mean(k.value, KEYS)}", node_span(file, k),
                            notes=[f"the keys are {', '.join(KEYS)}"])
        fields[k.value] = (k, v)
    root_span = node_span(file, root)
    for key in ("model_def", "model_ins", "model_outs"):
        if key not in fields:
            raise NetcError(f"missing key `{key}`", Span(file, root_span.line, root_span.col))
    spec = ast.Spec(file=file, source_format="yaml")
    if "templates" in fields:   # the `.net` notation's templates, in a `|` block (as in the modular form)
        node = fields["templates"][1]
        spec.templates = templates_block(_string(node, "templates in the notation (a `|` block of "
                                                       "`template NAME_p_q:` lines)", file), node, file, text)
    ins_node = fields["model_ins"][1]
    spec.input_stack = _name(ins_node, "the input stack's name (`model_ins`)", file)
    spec.input_stack_span = scalar_span(file, ins_node)

    bag = DiagnosticBag()
    block_errors = DiagnosticBag()   # block strings that did not parse: the model can still be checked
    defs = fields["model_def"][1]
    if not isinstance(defs, yaml.MappingNode):
        raise NetcError(f"`model_def` must map stack names to lists of lists of block strings, "
                        f"found {node_kind(defs)}", node_span(file, defs))
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
            if recover is not None:
                recover["names"].append(name)
            continue
        n_strings += sum(len(g) for g in groups)
        if n_strings > max_strings:   # aliases (`*a`) repeating lists: refuse before parsing them all
            bag.add(NetcError(f"stack `{name}` brings the spec to {n_strings:,} block strings from "
                              f"{len(text):,} characters: YAML aliases (`*name`) repeat lists of block strings "
                              f"beyond what a spec writes out; write the blocks out", node_span(file, v)))
            break
        if name == spec.input_stack:
            for group in groups:
                line = []
                for item in group:
                    try:
                        decl = parse_input_string(item.value, scalar_span(file, item, text))
                        if decl.channels is not None:
                            raise NetcError("a YAML input is `name#` or `name#op`: its channels come from `in_chs` "
                                            "and its size from `input_size`", node_span(file, item))
                        line.append(decl)
                    except NetcError as err:
                        bag.add(err)
                        if recover is not None:
                            recover["names"].append(str(item.value).split("#")[0] + "#")
                    n_inputs += 1
                spec.input_lines.append(line)
            continue
        stack = ast.Stack(name, scalar_span(file, k))
        for group in groups:
            line = []
            for item in group:
                try:
                    line.append(parse_block_string(item.value, scalar_span(file, item, text)))
                except NetcError as err:
                    if recover is not None:   # an editor's read: the string stands in as a failed block
                        bag.add(err)
                        from netc.frontends.recover import failed_block
                        line.append(failed_block(item.value, scalar_span(file, item, text)))
                    else:   # the CLI's: the model is still checked, this stack's blocks not lowered
                        block_errors.add(err)
                        stack.broken = True
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
                set_scale(spec, word, str(node.value) if isinstance(node, yaml.ScalarNode) else "", node_span(file, node))
            except NetcError as err:
                bag.add(err)
    for word, (_, _, key) in SCALE_WORDS.items():   # `width_rounding`, `depth_schedule`
        if key in fields:
            try:
                _rounding(spec, fields, file, word, key)
            except NetcError as err:
                bag.add(err)
    if inputs_ok:
        try:
            _attach_sizes(spec, fields, file, n_inputs)
        except NetcError as err:
            bag.add(err)
    if recover is not None:   # an editor's read: the errors go with the spec
        recover["errors"] += bag.items
        return spec
    if bag:
        for d in block_errors.items:
            bag.items.append(d)
        bag.raise_if_any()
    if block_errors:
        raise SpecWithErrors(block_errors.items, spec)
    return spec


def _rounding(spec: ast.Spec, fields: dict, file: str, word: str, name: str) -> None:
    """`width_rounding: nearest` / `depth_schedule: written`: a word, with its multiplier beside it."""
    key, node = fields[name]
    if f"{word}_multiplier" not in fields:
        what = "how `width_multiplier` rounds" if word == "width" else "what `depth_multiplier`'s drop-connect counts"
        raise NetcError(f"`{name}` says {what}; give `{word}_multiplier` too", node_span(file, key))
    _expect(node, yaml.ScalarNode, "a rounding word like `nearest`" if word == "width" else
            "a schedule word like `written`", file)
    set_rounding(spec, word, node.value, scalar_span(file, node))


def _outputs(spec: ast.Spec, outs: yaml.Node, file: str) -> None:
    spec.outputs_span = node_span(file, outs)
    if isinstance(outs, yaml.ScalarNode) and outs.tag == STR:
        outs_items = [outs]
    elif isinstance(outs, yaml.SequenceNode):
        outs_items = outs.value
    else:
        raise NetcError(f"`model_outs` must be a list of stack names, found {node_kind(outs)}", node_span(file, outs))
    for item in outs_items:
        spec.outputs.append(ast.Ref(_name(item, "a stack name in `model_outs`", file), scalar_span(file, item)))


def _groups(node: yaml.Node, stack: str, file: str) -> list[list[yaml.ScalarNode]]:
    if not isinstance(node, yaml.SequenceNode):
        raise NetcError(f"stack `{stack}` must be a list of lists of block strings, found {node_kind(node)}",
                        node_span(file, node))
    groups = []
    for g in node.value:
        if not isinstance(g, yaml.SequenceNode):
            hint = " (write it inside brackets: `[...]`)" if isinstance(g, yaml.ScalarNode) and g.tag == STR else ""
            raise NetcError(f"each entry of stack `{stack}` must be a list of block strings, "
                            f"found {node_kind(g)}{hint}", node_span(file, g))
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
                        f"declares {n_inputs} input{'s' if n_inputs != 1 else ''}", node_span(file, chs_node))
    size = None
    if "input_size" in fields:
        node = fields["input_size"][1]
        size = _int_list(node, "input_size", file, allow_null=True)
        if size is not None and len(size) != 2:
            raise NetcError(f"`input_size` must be [H, W], found {len(size)} values", node_span(file, node))
    dims = [node_span(file, n) for n in fields["input_size"][1].value] if size is not None else [None, None]
    for decl, c, item in zip(inputs, chs, chs_node.value):
        decl.channels = c
        decl.size = (size[0], size[1]) if size is not None else (None, None)
        decl.size_spans = (dims[0], dims[1], node_span(file, item))
