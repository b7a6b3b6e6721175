"""The modular YAML form (seed 002): `net:` is a list of modules, each `name`, `type`, optional `prev` and
`kwargs`, lowered to the AST: each module becomes a stack `NAME#` that selects its `prev` modules (the model
input when it has none) and holds one block, the module itself; its kwargs are checked against the module's
declared arguments by the semantic pass, where the registry (with any plugins) is known.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from netc import ast
from netc.diagnostics import DiagnosticBag, NetcError, Span, did_you_mean
from netc.frontends.text import parse_input_string
from netc.frontends.yaml_nodes import STR, node_kind, node_span, scalar_span, templates_block

KEYS = ("input", "templates", "net", "output")
MODULE_KEYS = ("name", "type", "prev", "kwargs")
DEFAULT_INPUT = "image# 224x224x3"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def is_modular(root: yaml.Node) -> bool:
    """The modular form is the mapping with a `net` key (the stacks form has `model_def`)."""
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)} if isinstance(
        root, yaml.MappingNode) else set()
    return "net" in keys and "model_def" not in keys


@dataclass
class Module:
    """One entry of `net:` as written (kept for `netc fmt`)."""

    name: str
    type: str
    prev: list[str] = field(default_factory=list)
    prev_is_list: bool = False
    kwargs: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class ModularForm:
    """The modular spec as written: input line, templates text, modules, outputs."""

    input: str | None
    templates: str | None
    modules: list[Module]
    outputs: list[str] | None


def _str(node: yaml.Node, what: str, file: str) -> str:
    if not (isinstance(node, yaml.ScalarNode) and node.tag == STR):
        raise NetcError(f"expected {what}, found {node_kind(node)}", node_span(file, node))
    return node.value


def _value(node: yaml.Node, file: str) -> Any:
    try:
        return SafeConstructor().construct_object(node, deep=True)
    except ConstructorError as err:
        raise NetcError(f"cannot read this value: {err.problem}", node_span(file, node)) from None


def _names(node: yaml.Node, what: str, file: str) -> list[tuple[str, yaml.Node]]:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if isinstance(node, yaml.SequenceNode) and not items:
        raise NetcError(f"`{what}` is an empty list", node_span(file, node))
    return [(_str(i, f"a module name in `{what}`", file), i) for i in items]


def parse_modular(root: yaml.MappingNode, text: str, file: str) -> ast.Spec:
    """Lower a modular YAML document (already composed) to the AST."""
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in root.value:
        key = _str(k, "a key", file)
        if key not in KEYS:
            raise NetcError(f"unknown key `{key}`{did_you_mean(key, KEYS)}", node_span(file, k),
                            notes=[f"the keys of the modular form are {', '.join(KEYS)}"])
        if key in fields:
            raise NetcError(f"duplicate key `{key}` (first at line {node_span(file, fields[key][0]).line})",
                            node_span(file, k))
        fields[key] = (k, v)
    spec = ast.Spec(file=file, source_format="yaml", input_stack="inputs#")

    # the input: `input: image#norm1 32x32x3` (the `.net` input line's text), default `image# 224x224x3`
    input_text = None
    if "input" in fields:
        node = fields["input"][1]
        input_text = _str(node, "the input, e.g. `image# 224x224x3` (name, optional input op, HxWxC)", file)
        decl = parse_input_string(input_text, scalar_span(file, node, text))
    else:
        decl = parse_input_string(DEFAULT_INPUT, node_span(file, fields["net"][0]))
    if decl.channels is None:
        raise NetcError(f"the input needs a size, e.g. `{decl.text} 224x224x3`", decl.span)
    spec.input_lines = [[decl]]
    spec.input_stack_span = decl.span

    templates_text = None
    if "templates" in fields:
        node = fields["templates"][1]
        templates_text = _str(node, "templates in the notation (a `|` block of `template NAME_p:` lines)", file)
        spec.templates = templates_block(templates_text, node, file, text)
    template_names = {t.name: t for t in spec.templates}

    net = fields["net"][1]
    if not isinstance(net, yaml.SequenceNode) or not net.value:
        raise NetcError(f"`net` must be a list of modules (each with `name` and `type`), found "
                        f"{'an empty list' if isinstance(net, yaml.SequenceNode) else node_kind(net)}", node_span(file, net))
    bag = DiagnosticBag()
    modules: list[Module] = []
    defined: dict[str, Span] = {decl.name[:-1]: decl.span}
    later = {}
    for item in net.value:   # names defined later, for a clearer error on a forward `prev`
        if isinstance(item, yaml.MappingNode):
            for k, v in item.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "name" and isinstance(v, yaml.ScalarNode):
                    later.setdefault(v.value, node_span(file, v))
    for item in net.value:
        try:
            mod, stack = _module(item, file, text, decl, defined, later, template_names)
        except NetcError as err:
            bag.add(err)
            continue
        modules.append(mod)
        spec.stacks.append(stack)
    bag.raise_if_any()

    outputs = None
    if "output" in fields:
        node = fields["output"][1]
        outputs = []
        spec.outputs_span = node_span(file, node)
        for name, n in _names(node, "output", file):
            if name not in defined or name == decl.name[:-1]:
                raise NetcError(f"output `{name}` names no module{did_you_mean(name, [m.name for m in modules])}",
                                node_span(file, n))
            outputs.append(name)
            spec.outputs.append(ast.Ref(name + "#", scalar_span(file, n)))
    else:
        last = spec.stacks[-1]
        spec.outputs = [ast.Ref(last.name, last.span)]
        spec.outputs_span = last.span
    spec.modular = ModularForm(input_text, templates_text, modules, outputs)
    return spec


def _module(item: yaml.Node, file: str, text: str, decl: ast.InputDecl, defined: dict[str, Span],
            later: dict[str, Span], templates: dict[str, ast.Template]) -> tuple[Module, ast.Stack]:
    if not isinstance(item, yaml.MappingNode):
        raise NetcError(f"a module is a mapping with `name`, `type`, optional `prev` and `kwargs`, found "
                        f"{node_kind(item)}", node_span(file, item))
    f: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in item.value:
        key = _str(k, "a module key", file)
        if key == "kwarg":   # as seed 002 writes it
            key = "kwargs"
        if key not in MODULE_KEYS:
            raise NetcError(f"unknown module key `{key}`{did_you_mean(key, MODULE_KEYS)}", node_span(file, k),
                            notes=[f"a module has {', '.join(MODULE_KEYS)}"])
        if key in f:
            raise NetcError(f"module key `{key}` given twice", node_span(file, k))
        f[key] = (k, v)
    at = node_span(file, item)
    for key in ("name", "type"):
        if key not in f:
            raise NetcError(f"the module needs a `{key}`", Span(file, at.line, at.col))
    name_node, type_node = f["name"][1], f["type"][1]
    name = _str(name_node, "the module's name", file)
    if not NAME.fullmatch(name):
        raise NetcError(f"`{name}` is not a module name: letters, digits and `_`, starting with a letter",
                        node_span(file, name_node))
    if name in defined and getattr(item, "alias_of", None) is not None:
        raise NetcError(f"`*{item.alias_of}` repeats the module `{name}` (line {defined[name].line}): module names "
                        f"are unique, so an alias cannot reuse a module; anchor its `kwargs` instead and give this "
                        f"module a name of its own", node_span(file, item))
    if name in defined:
        raise NetcError(f"module name `{name}` is already used (line {defined[name].line})", node_span(file, name_node))
    mtype = _str(type_node, "the module's type (a registered module, block or template)", file)
    name_span = scalar_span(file, name_node)
    prev: list[str] = []
    refs: list[ast.Ref] = []
    prev_is_list = False
    if "prev" in f:
        pnode = f["prev"][1]
        prev_is_list = isinstance(pnode, yaml.SequenceNode)
        for p, n in _names(pnode, "prev", file):
            if p not in defined:
                if p in later:
                    raise NetcError(f"`prev` names `{p}`, which is defined later (line {later[p].line}); a module "
                                    f"reads only earlier modules", node_span(file, n))
                raise NetcError(f"`prev` names `{p}`, but no earlier module has that name"
                                f"{did_you_mean(p, defined)}", node_span(file, n),
                                notes=[f"earlier modules: {', '.join(k for k in defined if k != decl.name[:-1]) or 'none'}"
                                       f"; the model input is `{decl.name[:-1]}`"])
            prev.append(p)
            refs.append(ast.Ref(p + "#", scalar_span(file, n)))
        sel_span = node_span(file, pnode)
    else:
        refs = [ast.Ref(decl.name, name_span)]
        sel_span = name_span
    kwargs: list[tuple[str, Any]] = []
    located: list[tuple[str, Any, Span, Span]] = []
    if "kwargs" in f:
        knode = f["kwargs"][1]
        if isinstance(knode, yaml.ScalarNode) and knode.tag == "tag:yaml.org,2002:null":
            pass
        elif not isinstance(knode, yaml.MappingNode):
            raise NetcError(f"`kwargs` must be a mapping of argument names to values, found {node_kind(knode)}",
                            node_span(file, knode))
        else:
            seen: set[str] = set()
            for k, v in knode.value:
                key = _str(k, "a kwarg name", file)
                if key in seen:
                    raise NetcError(f"kwarg `{key}` given twice", node_span(file, k))
                seen.add(key)
                value = _value(v, file)
                kwargs.append((key, value))
                items = tuple(node_span(file, i) for i in v.value) if isinstance(v, yaml.SequenceNode) else ()
                located.append((key, value, scalar_span(file, k), node_span(file, v), items))
    defined[name] = name_span
    stack = ast.Stack(name + "#", name_span)
    select = ast.Block("select:" + ":".join(r.name for r in refs), sel_span, "op", "select", sel_span,
                       refs=tuple(refs))
    type_span = scalar_span(file, type_node)
    if mtype in templates:
        body = _template_use(mtype, located, type_span, templates[mtype])
    else:
        body = ast.Block(f"{mtype}", type_span, "module", mtype, type_span, kwargs=tuple(located))
    stack.lines = [[select], [body]]
    return Module(name, mtype, prev, prev_is_list, kwargs), stack


def _template_use(name: str, located: list[tuple[str, Any, Span, Span]], span: Span,
                  t: ast.Template) -> ast.Block:
    """A module whose type is a template: its kwargs are the template's parameters (`l: 4` is `l4`)."""
    args = []
    for key, value, kspan, vspan, _ in located:
        if key not in t.params:
            raise NetcError(f"template `{name}` has no parameter `{key}`{did_you_mean(key, t.params)}", kspan,
                            notes=[f"`{name}` takes: {', '.join(t.params) or 'none'} (defined at {t.span})"])
        if isinstance(value, (list, dict)) or value is None or isinstance(value, bool):
            raise NetcError(f"template parameter `{key}` takes a number or a word, found {type(value).__name__}",
                            vspan)
        args.append(ast.ArgToken(f"{key}{value}", kspan))
    text = "_".join([name, *(a.text for a in args)])
    return ast.Block(text, span, "layer", name, span, args=tuple(args))


def _flow(value: Any) -> str:
    """One value in YAML flow style (`3`, `[64, 128, 256]`, `re`, `'3'`)."""
    out = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, sort_keys=False).rstrip("\n")
    return out[:-4].rstrip("\n") if out.endswith("\n...") else out


def to_modular_yaml(form: ModularForm) -> str:
    """The canonical text of a modular spec: input, templates, net (name, prev, type, kwargs), output."""
    lines = [f"input: {_flow(form.input if form.input is not None else DEFAULT_INPUT)}"]
    if form.templates is not None:
        lines.append("templates: |")
        lines += ["  " + ln if ln.strip() else "" for ln in form.templates.rstrip("\n").split("\n")]
    lines.append("net:")
    for m in form.modules:
        lines.append(f"  - name: {_flow(m.name)}")
        if m.prev:
            lines.append(f"    prev: {_flow(m.prev) if m.prev_is_list else _flow(m.prev[0])}")
        lines.append(f"    type: {_flow(m.type)}")
        if m.kwargs:
            lines.append("    kwargs:")
            lines += [f"      {_flow(k)}: {_flow(v)}" for k, v in m.kwargs]
    if form.outputs is not None:
        lines.append(f"output: {_flow(form.outputs)}")
    return "\n".join(lines) + "\n"
