"""The semantic pass: resolve names, decode arguments, lower every block to the IR.

Shapes are inferred while lowering (the builder checks operands), so each block's output
shape, parameters and MACs come from its one definition in the registry. Independent errors
are collected and reported together, one per root cause: a failed block poisons its label and
its stack, and whatever depends on them is skipped silently.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from netc import ast
from netc.blocks import REGISTRY
from netc.diagnostics import Diagnostic, DiagnosticBag, NetcError, Span, did_you_mean
from netc.ir.builder import Builder
from netc.ir.graph import Graph, Origin, Value
from netc.registry import Limits, Registry
from netc.semantic.budget import WorkBudget
from netc.semantic.modules import as_layer_block, decode_kwargs, module_type


class _Poisoned:
    """Stands for a value whose producer failed; uses of it are skipped without a new error."""


POISON = _Poisoned()


@dataclass
class BlockInfo:
    """One row of the summary: a block string as written (all its repeat copies)."""

    stack: str
    names: list[str]                  # checkpoint block names of its copies (`layer_4`, `layer_5`, `c3`)
    text: str
    span: Span | None
    shape: tuple | None
    params: int = 0
    macs: int = 0
    copies: int = 1


@dataclass
class StackInfo:
    name: str
    span: Span
    blocks: list[BlockInfo] = field(default_factory=list)
    shape: tuple | None = None

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.blocks)


@dataclass
class CheckedModel:
    """A typed, checked model: the AST, the IR graph and per-block facts for the summary."""

    spec: ast.Spec
    graph: Graph
    inputs: list[BlockInfo]
    stacks: list[StackInfo]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.graph.param_count()

    @property
    def macs(self) -> int:
        return sum(n.macs() for n in self.graph.nodes)


def _strip(name: str) -> str:
    return name[:-1] if name.endswith("#") else name


class Analyzer:
    def __init__(self, spec: ast.Spec, limits: Limits, registry: Registry | None = None):
        self.spec, self.limits = spec, limits
        self.reg = registry if registry is not None else REGISTRY
        self.b = Builder(name=_model_name(spec))
        self.env: dict[str, Value | list[Value] | _Poisoned] = {}
        self.defined: dict[str, Span] = {}     # every name the spec defines -> where
        self.order: dict[str, int] = {}        # name -> position in definition order
        self.bag = DiagnosticBag()
        self.warnings: list[Diagnostic] = []
        self.params = 0
        self.stack: str | None = None          # the stack being lowered
        self.block_names: dict[str, tuple[ast.Block, int]] = {}   # its checkpoint names -> (block, position)
        self.budget = WorkBudget(spec, limits)   # node/parameter limits, checked before lowering

    # ------------------------------------------------------------------ names
    def _declare(self, name: str, span: Span, what: str) -> None:
        if name in self.defined:
            first = self.defined[name]
            raise NetcError(f"duplicate name `{name}`: {what} reuses a name first defined at line {first.line}",
                            span, notes=[f"`{name}` was first defined at {first}"])
        self.defined[name] = span
        self.order[name] = len(self.order)

    def _owns(self, name: str, span: Span) -> bool:
        """Whether the definition at ``span`` is the one that got ``name`` (a duplicate is reported once)."""
        return self.defined.get(name) == span

    def _collect_names(self) -> None:
        for d in self.spec.inputs:
            self._try(self._declare, d.name, d.span, "an input")
        for st in self.spec.stacks:
            if st.name == self.spec.input_stack:
                continue
            self._try(self._declare, st.name, st.span, "a stack")
            for blk in st.blocks:
                if blk.label is not None:
                    self._try(self._declare, blk.label, blk.label_span, "a block label")

    def _resolve(self, ref: ast.Ref, user_pos: int) -> Value | list[Value] | _Poisoned:
        if ref.name in self.env:
            return self.env[ref.name]
        if ref.name == self.stack:
            raise NetcError(f"`{ref.name}` is the stack being defined: its output does not exist yet; "
                            f"label a block of it (`a#...`) and name that", ref.span)
        if ref.name in self.defined and self.order.get(ref.name, -1) >= user_pos:
            where = self.defined[ref.name]
            raise NetcError(f"`{ref.name}` is defined later (line {where.line}); a block can only use "
                            f"names defined before it", ref.span)
        if ref.name in self.defined:  # defined earlier but failed
            return POISON
        if not ref.name.endswith("#"):
            raise NetcError(f"a reference must end with `#`: `{ref.name}#`", ref.span)
        notes = []
        if re.fullmatch(r"layer_\d+#", ref.name):
            notes.append("a block without a label cannot be named; put a label before it (`a#cn_k3_c8`) and name "
                         "the label")
        hint = "" if self.bag.full else did_you_mean(ref.name, self.defined)   # beyond the shown errors: no search
        raise NetcError(f"unknown name `{ref.name}`{hint}", ref.span, notes=notes)

    def _try(self, fn, *args):
        try:
            return fn(*args)
        except NetcError as err:
            self.bag.add(err)
            return POISON

    # ----------------------------------------------------------------- driver
    def run(self) -> CheckedModel:
        spec = self.spec
        if spec.input_stack in {st.name for st in spec.stacks}:
            st = next(st for st in spec.stacks if st.name == spec.input_stack)
            self.bag.add(NetcError(f"`{spec.input_stack}` is the input stack; declare inputs with `input` lines",
                                   st.span))
        self._collect_names()
        if not spec.inputs:
            self.bag.add(NetcError("the spec declares no input (add a line like `input img#norm1 224x224x3`)",
                                   spec.input_stack_span or Span(spec.file, 1, 1)))
        inputs = [self._input(d) for d in spec.inputs]
        stacks = []
        for st in spec.stacks:
            if st.name != spec.input_stack:
                stacks.append(self._stack(st))
        self._outputs()
        self.bag.raise_if_any()
        return CheckedModel(spec, self.b.graph, [i for i in inputs if i is not None], stacks, self.warnings)

    # ----------------------------------------------------------------- inputs
    def _input(self, d: ast.InputDecl) -> BlockInfo | None:
        if not self._owns(d.name, d.span):   # a duplicate name, reported
            return None
        try:
            if d.channels is None:
                raise NetcError(f"input `{d.name}` needs a size, e.g. `{d.text} 224x224x3` "
                                f"(`?x?x3` for a dynamic size)", d.span)
            at = [sp or d.span for sp in d.size_spans]   # where H, W and C are written
            if d.channels < 1:
                raise NetcError(f"input `{d.name}`: it needs at least 1 channel, found {d.channels}", at[2])
            if d.channels > self.limits.channels:
                raise NetcError(f"input `{d.name}`: {d.channels} channels exceeds the limit of "
                                f"{self.limits.channels} (raise it with `--limit channels={d.channels}`)", at[2])
            for v, where in zip(d.size or (), at):
                if v is not None and v < 1:
                    raise NetcError(f"input `{d.name}`: a size must be at least 1, found {v}", where)
                if v is not None and v > self.limits.input_size:
                    raise NetcError(f"input `{d.name}`: size {v} exceeds the limit of {self.limits.input_size} "
                                    f"(raise it with `--limit input_size={v}`)", where)
            h, w = d.size or (None, None)
            self.b.origin = Origin(d.span, "", _strip(d.name), d.text)
            x = self.b.input(_strip(d.name), (None, h, w, d.channels))
            if d.op is not None:
                op = self.reg.input_ops.get(d.op)
                if op is None:
                    raise NetcError(f"unknown input op `{d.op}`{did_you_mean(d.op, self.reg.input_ops)}", d.op_span,
                                    notes=["input ops: " + ", ".join(self.reg.input_ops)])
                x = op.lower(self.b, x)
            self.env[d.name] = x
            return BlockInfo("", [_strip(d.name)], d.text, d.span, x.shape)
        except NetcError as err:
            self.bag.add(err)
            self.env[d.name] = POISON
            return None

    # ----------------------------------------------------------------- stacks
    def _stack(self, st: ast.Stack) -> StackInfo:
        """Lower a stack's blocks in order. After a failure (or in a stack whose name is a duplicate) the
        remaining blocks are still checked for errors of their own, but not lowered."""
        info = StackInfo(st.name, st.span)
        blocks = st.blocks
        self.stack, self.block_names = st.name, {}
        current, rest = POISON, blocks
        if not blocks:
            self.bag.add(NetcError(f"stack `{st.name}` is empty; it must start with `select:`", st.span))
        elif not (blocks[0].kind == "op" and blocks[0].code == "select"):
            self.bag.add(NetcError(f"stack `{st.name}` must start with `select:NAME#` (which input or stack it "
                                   f"reads), found `{blocks[0].text}`", blocks[0].span))
            rest = [b for b in blocks if not (b.kind == "op" and b.code == "select")]  # a misplaced select
        else:
            current, rest = self._try(self._select, blocks[0], st), blocks[1:]
        owned = self._owns(st.name, st.span)
        if not owned:   # a duplicate stack name, reported: lowering it would clash with the first
            current = POISON
        position = 0
        for blk in rest:
            if current is not POISON and blk.label is not None and not self._owns(blk.label, blk.label_span):
                current = POISON   # a duplicate label, reported
            if current is POISON:
                try:
                    self._check(blk, st)
                except NetcError as err:
                    self.bag.add(_with_via(err, blk))
                self._poison_label(blk)
                self.budget.retire(blk)
                continue
            row = BlockInfo(st.name, [], blk.text, blk.span, None)
            try:
                current, position = self._block(blk, st, current, position, row)
            except NetcError as err:
                self.bag.add(_with_via(err, blk))
                current = POISON
                self._poison_label(blk)
                self.budget.retire(blk)
            info.blocks.append(row)
        if owned:
            self.env[st.name] = current
        if isinstance(current, Value):
            info.shape = current.shape
        for blk in blocks:  # labels after a failure are poisoned, not unknown
            self._poison_label(blk)
        self.stack = None
        return info

    def _poison_label(self, blk: ast.Block) -> None:
        """A block that failed or was skipped: its label now stands for a failure, reported once already (so a
        later use of it is skipped, not reported as unknown or "defined later")."""
        if blk.label is not None and blk.label not in self.env and self._owns(blk.label, blk.label_span):
            self.env[blk.label] = POISON

    def _module(self, blk: ast.Block, current, position: int, stack_name: str):
        """A module of the modular YAML form: kwargs checked, then its ``lower`` on the `prev` tensors."""
        mt = module_type(self.reg, blk)
        kw, _ = decode_kwargs(mt, blk)
        xs = current if isinstance(current, list) else [current]
        if len(xs) < mt.min_inputs or (mt.max_inputs is not None and len(xs) > mt.max_inputs):
            want = (f"exactly {mt.min_inputs}" if mt.max_inputs == mt.min_inputs else
                    f"at least {mt.min_inputs}" if mt.max_inputs is None else f"{mt.min_inputs} to {mt.max_inputs}")
            raise NetcError(f"module `{mt.name}` takes {want} input{'s' if mt.max_inputs != 1 else ''}, "
                            f"but `prev` gives {len(xs)}", blk.code_span)
        name = self._block_name(blk, position, True)
        self.b.origin = Origin(blk.span, stack_name, name, blk.text)
        try:
            return self._lowered("modules", mt.name, blk.code_span, mt.lower, self.b, kw, list(xs))
        except NetcError as err:
            for d in err.diagnostics:
                if d.span is None:
                    d.span = blk.code_span
            raise

    def _lowered(self, table: str, code: str, span: Span, lower, *args) -> Value:
        """Call a registered entry's ``lower``. An exception from a plugin's entry (or a result that is no
        tensor) is the plugin author's mistake, reported at the block (exit 2); from a built-in it is netc's."""
        builtin = getattr(REGISTRY, table).get(code) is getattr(self.reg, table).get(code)
        what = {"blocks": "block type", "ops": "op", "modules": "module"}[table]
        try:
            out = lower(*args)
        except NetcError:
            raise
        except Exception as err:  # noqa: BLE001
            if builtin:
                raise
            raise NetcError(f"the plugin {what} `{code}` failed while lowering: {type(err).__name__}: {err}",
                            span) from None
        if not isinstance(out, Value):
            if builtin:
                raise TypeError(f"{what} `{code}`'s lower returned {type(out).__name__}, not a Value")
            raise NetcError(f"the plugin {what} `{code}` returned {type(out).__name__}, not a tensor", span)
        return out

    def _check(self, blk: ast.Block, st: ast.Stack) -> None:
        """What can be checked of a block whose input is unknown: its type, its arguments, the names it uses."""
        if blk.kind == "module":
            mt = module_type(self.reg, blk)
            if mt is None and blk.code in self.reg.ops:
                op = self._op_type(as_layer_block(blk, "op"))
                if op.params:
                    self.reg.decode_args(as_layer_block(blk, "op"), op, self.limits)
            elif mt is None:
                self.reg.decode_args(as_layer_block(blk), self._block_type(blk), self.limits)
            else:
                decode_kwargs(mt, blk)
            return
        if blk.kind == "layer":
            self.reg.decode_args(blk, self._block_type(blk), self.limits)
            return
        op = self._op_type(blk)
        if op.params:
            self.reg.decode_args(blk, op, self.limits)
        for ref in blk.refs:
            self._resolve(ref, self._ref_pos(blk, st))

    def _select(self, blk: ast.Block, st: ast.Stack):
        if blk.label is not None:
            raise NetcError("`select:` cannot carry a label; the stack's name already names it", blk.label_span)
        if not blk.refs:
            raise NetcError("`select:` needs at least one name, e.g. `select:img#`", blk.span)
        vals = [self._resolve(r, self.order.get(st.name, 0)) for r in blk.refs]
        if any(v is POISON for v in vals):
            return POISON
        for r, v in zip(blk.refs, vals):
            if isinstance(v, list):
                raise NetcError(f"`{r.name}` holds {len(v)} tensors (a multi-select with no op after it); "
                                f"select a single tensor", r.span)
        return vals[0] if len(vals) == 1 else list(vals)

    def _block(self, blk: ast.Block, st: ast.Stack, current, position: int, row: BlockInfo):
        n0 = len(self.b.graph.nodes)
        stack_name = _strip(st.name)
        if blk.kind == "module" and module_type(self.reg, blk) is None and blk.code in self.reg.ops:
            blk = as_layer_block(blk, "op")
            out = self._op(blk, st, current, position, stack_name)
            position += 1
            row.names.append(self._block_name(blk, position - 1, True))
        elif blk.kind == "module" and module_type(self.reg, blk) is None:
            out, position = self._layer(as_layer_block(blk), current, position, stack_name, row)
        elif blk.kind == "module":
            out = self._module(blk, current, position, stack_name)
            position += 1
            row.names.append(self._block_name(blk, position - 1, True))
        elif blk.kind == "op":
            out = self._op(blk, st, current, position, stack_name)
            position += 1
            row.names.append(self._block_name(blk, position - 1, True))
        else:
            out, position = self._layer(blk, current, position, stack_name, row)
        if out is not POISON:
            row.shape = out.shape
            for node in self.b.graph.nodes[n0:]:
                row.params += sum(w.size for w in node.weights.values())
                row.macs += node.macs()
            self.params += row.params
            if self.params > self.limits.params:
                raise NetcError(f"the model exceeds the limit of {self.limits.params:,} parameters at this block "
                                f"({self.params:,}); raise it with `--limit params=N`", blk.span)
            if len(self.b.graph.nodes) > self.limits.nodes:
                raise NetcError(f"the model exceeds the limit of {self.limits.nodes:,} IR nodes at this block; "
                                f"raise it with `--limit nodes=N`", blk.span)
        if blk.label is not None:
            self.env[blk.label] = out
        return out, position

    def _block_name(self, blk: ast.Block, position: int, last: bool) -> str:
        """The checkpoint name of a block (copy): its label, or `layer_<position in the stack>`."""
        name = _strip(blk.label) if (blk.label is not None and last) else f"layer_{position}"
        other, other_pos = self.block_names.setdefault(name, (blk, position))
        if other is not blk or other_pos != position:   # a label `layer_2#` where another block is `layer_2`
            labelled, plain = (blk, other) if blk.label is not None and last else (other, blk)
            raise NetcError(f"the label `{labelled.label}` clashes with `{name}`, the name of the unlabelled block "
                            f"(or repeat copy) `{plain.text}` on line {plain.span.line}; blocks without a label are "
                            f"named `layer_<position>`: choose another label", labelled.label_span)
        return name

    def _block_type(self, blk: ast.Block):
        btype = self.reg.blocks.get(blk.code)
        if btype is None:
            body = blk.text[len(blk.label or ""):]
            op = next((o for o in self.reg.ops if body == o or body.startswith(o + "_")), None)   # `up_x2`
            if op is not None:
                raise NetcError(f"`{op}` is an op: write it with a colon, `{op}:`", blk.code_span)
            raise NetcError(f"unknown block type `{blk.code}`{did_you_mean(blk.code, self.reg.blocks)}",
                            blk.code_span, notes=["block types: " + ", ".join(self.reg.blocks)])
        return btype

    def _layer(self, blk: ast.Block, current, position: int, stack_name: str, row: BlockInfo):
        btype = self._block_type(blk)
        args, warns = self.reg.decode_args(blk, btype, self.limits)
        args = scaled_args(self.spec, btype, args)
        for msg, span in warns + btype.warnings(args):
            self.warnings.append(Diagnostic(msg, span, "warning"))
        if isinstance(current, list):
            raise NetcError(f"`{blk.text}` takes one tensor, but the stack holds {len(current)} from a "
                            f"multi-select; combine them first, e.g. with `cnct:`", blk.span)
        repeats = args.r if "r" in btype.params else 1
        nodes = self.b.graph.nodes
        self.budget.before(blk, repeats, len(nodes))
        x, n_start = current, len(nodes)
        for i in range(repeats):
            last = i == repeats - 1
            a = args if i == 0 or btype.stride_arg not in btype.params else args.replace(**{btype.stride_arg: 1})
            name = self._block_name(blk, position, last)
            self.b.origin = Origin(blk.span, stack_name, name, blk.text)
            n0 = len(nodes)
            x = self._lowered("blocks", blk.code, blk.code_span, btype.lower, self.b, a, x)
            row.names.append(name)
            position += 1
            if i == 1 and repeats > 2:   # copies 2..r are alike: refuse before the rest exist
                self.budget.after_second_copy(blk, repeats, len(nodes) - n0, _params(nodes[n0:]), len(nodes),
                                              self.params + _params(nodes[n_start:]))
        row.copies = repeats
        return x, position

    def _op_type(self, blk: ast.Block):
        if blk.code == "select":
            raise NetcError("`select:` may only start a stack", blk.code_span)
        op = self.reg.ops.get(blk.code)
        if op is not None and blk.args and not op.params:
            op = None
        if op is None:   # an op whose name holds `_` (`up_x2:`) and takes no arguments
            op = self.reg.ops.get("_".join([blk.code, *(a.text for a in blk.args)]))
            if op is not None:
                return op
        if op is None:
            if blk.code in self.reg.blocks:
                raise NetcError(f"`{blk.code}` is a layer block, not an op: write it without the colon",
                                blk.code_span)
            ops = [f"{o}:" for o in self.reg.ops]
            raise NetcError(f"unknown op `{blk.code}:`{did_you_mean(blk.code + ':', ops)}", blk.code_span,
                            notes=["ops: " + ", ".join(ops)])
        return op

    def _ref_pos(self, blk: ast.Block, st: ast.Stack) -> int:
        """The definition-order position a block's references must precede."""
        pos = self.order.get(blk.label, self.order.get(st.name, 0)) if blk.label else self.order.get(st.name, 0)
        return pos + 1 if blk.label else pos

    def _op(self, blk: ast.Block, st: ast.Stack, current, position: int, stack_name: str):
        op = self._op_type(blk)
        if blk.refs:
            vals = [self._resolve(r, self._ref_pos(blk, st)) for r in blk.refs]
            names = [r.name for r in blk.refs]
            if any(v is POISON for v in vals):
                return POISON
            for r, v in zip(blk.refs, vals):
                if isinstance(v, list):
                    raise NetcError(f"`{r.name}` holds {len(v)} tensors; name a single tensor", r.span)
            src = "its arguments"
        else:
            vals = current if isinstance(current, list) else [current]
            names = [v.name for v in vals]
            src = "the stack's current tensor" + ("s" if len(vals) > 1 else "")
        n = len(vals)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            want = (f"exactly {op.min_inputs}" if op.max_inputs == op.min_inputs
                    else f"at least {op.min_inputs}" if op.max_inputs is None
                    else f"{op.min_inputs} to {op.max_inputs}")
            raise NetcError(f"`{blk.code}:` takes {want} tensor{'s' if op.max_inputs != 1 else ''}, but got {n} "
                            f"from {src}", blk.span)
        name = self._block_name(blk, position, True)
        self.b.origin = Origin(blk.span, stack_name, name, blk.text)
        if op.params:
            args, warns = self.reg.decode_args(blk, op, self.limits)
            for msg, span in warns:
                self.warnings.append(Diagnostic(msg, span, "warning"))
            return self._lowered("ops", blk.code, blk.code_span, op.lower, self.b, list(vals), names, args)
        return self._lowered("ops", blk.code, blk.code_span, op.lower, self.b, list(vals), names)

    # ---------------------------------------------------------------- outputs
    def _outputs(self) -> None:
        spec = self.spec
        if not spec.outputs:
            self.bag.add(NetcError("the spec names no output (add a line like `output backbone#`)",
                                   spec.outputs_span or spec.end or Span(spec.file, 1, 1)))
            return
        seen: set[str] = set()
        inputs = {d.name for d in spec.inputs}
        for ref in spec.outputs:
            try:
                if ref.name in seen:
                    raise NetcError(f"output `{ref.name}` is listed twice", ref.span)
                seen.add(ref.name)
                v = self._resolve(ref, len(self.order) + 1)
                if v is POISON:
                    continue
                if ref.name in inputs:
                    raise NetcError(f"output `{ref.name}` is an input; an output names a stack or a labelled "
                                    f"block (to output the input, add a stack that is only `select:{ref.name}`)",
                                    ref.span)
                if isinstance(v, list):
                    raise NetcError(f"output `{ref.name}` holds {len(v)} tensors (its stack ends with a "
                                    f"multi-select); an output must be one tensor", ref.span)
                self.b.output(_strip(ref.name), v)
            except NetcError as err:
                self.bag.add(err)


def _params(nodes) -> int:
    return sum(w.size for node in nodes for w in node.weights.values())


def _with_via(err: NetcError, blk: ast.Block) -> NetcError:
    """Add the use site to an error inside a template's expansion."""
    if blk.via is not None:
        for d in err.diagnostics:
            if blk.via not in d.notes:
                d.notes.append(blk.via)
    return err


def scaled_args(spec: ast.Spec, btype, args):
    """Apply the spec's multipliers: `width` scales `c` (blocks with ``scales_width``) to a multiple of 8 as
    timm and Ultralytics round (at least 8, never more than 10% below); `depth` scales a repeat count above 1
    (`r3`), rounded up; single blocks stay single, as Ultralytics scales only repeated modules."""
    from netc.blocks.inverted_residual import make_divisible
    changes = {}
    if spec.width is not None and spec.width != 1.0 and btype.scales_width and "c" in btype.params \
            and args.c is not None:
        changes["c"] = make_divisible(args.c * spec.width)
    if spec.depth is not None and spec.depth != 1.0 and "r" in btype.params and args.r > 1:
        changes["r"] = max(1, math.ceil(args.r * spec.depth - 1e-9))
    return args.replace(**changes) if changes else args


def _model_name(spec: ast.Spec) -> str:
    import os
    base = os.path.basename(spec.file)
    return os.path.splitext(base)[0] or "netc_model"


def analyze(spec: ast.Spec, limits: Limits | None = None, registry: Registry | None = None) -> CheckedModel:
    """Check ``spec`` and lower it to the IR; raises :class:`NetcError` listing every independent error.
    The IR verifier checks the lowered graph (a failure there is netc's bug, not the spec's)."""
    from netc.ir.verify import verify_graph
    from netc.semantic.templates import expand
    reg = registry if registry is not None else REGISTRY
    limits = limits or Limits()
    spec = expand(spec, set(reg.blocks) | set(reg.ops) | set(reg.modules), max_blocks=limits.nodes)
    checked = Analyzer(spec, limits, reg).run()
    verify_graph(checked.graph)
    return checked

