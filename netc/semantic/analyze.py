"""The semantic pass: resolve names, decode arguments, lower every block to the IR.

Shapes are inferred while lowering (the builder checks operands), so each block's output
shape, parameters and MACs come from its one definition in the registry. Independent errors
are collected and reported together, one per root cause: a failed block poisons its label and
its stack, and whatever depends on them is skipped silently.
"""
from __future__ import annotations

from netc import ast
from netc.blocks import REGISTRY
from netc.diagnostics import Diagnostic, DiagnosticBag, NetcError, Span, did_you_mean
from netc.ir.builder import Builder
from netc.ir.graph import Origin, Value
from netc.plugins import guarded_call
from netc.registry import Limits, Registry
from netc.semantic.budget import WorkBudget
from netc.semantic.lowering import Lowering, with_via
from netc.semantic.schedule import DropConnect
from netc.semantic.model import BlockInfo, CheckedModel, StackInfo
from netc.semantic.multipliers import scaled_args
from netc.semantic.scope import POISON, Scope, _Poisoned, strip_ref

__all__ = ["POISON", "Analyzer", "BlockInfo", "CheckedModel", "StackInfo", "analyze", "scaled_args"]


class Analyzer(Scope, Lowering):
    """One spec's analysis: names collected, inputs, stacks and outputs lowered, errors gathered."""

    def __init__(self, spec: ast.Spec, limits: Limits, registry: Registry | None = None):
        self.spec, self.limits = spec, limits
        self.reg = registry if registry is not None else REGISTRY
        self.b = Builder(name=_model_name(spec))
        self.env: dict[str, Value | list[Value] | _Poisoned] = {}
        self.defined: dict[str, Span] = {}     # every name the spec defines -> where
        self.defined_via: dict[str, str | None] = {}   # -> the template use that expanded it (None: as written)
        self.order: dict[str, int] = {}        # name -> position in definition order
        self.bag = DiagnosticBag()
        self.warnings: list[Diagnostic] = []
        self.params = 0
        self.stack: str | None = None          # the stack being lowered
        self.block_names: dict[str, tuple[ast.Block, int]] = {}   # its checkpoint names -> (block, position)
        self.budget = WorkBudget(spec, limits, self.reg)   # node/parameter limits, checked before lowering
        self.drop_connect = DropConnect(spec, limits, self.reg)   # `dc`: each copy's rate needs the total

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
            self.b.origin = Origin(d.span, "", strip_ref(d.name), d.text)
            x = self.b.input(strip_ref(d.name), (None, h, w, d.channels))
            if d.op is not None:
                op = self.reg.input_ops.get(d.op)
                if op is None:
                    raise NetcError(f"unknown input op `{d.op}`{did_you_mean(d.op, self.reg.input_ops)}", d.op_span,
                                    notes=["input ops: " + ", ".join(self.reg.input_ops)])
                builtin = REGISTRY.input_ops.get(d.op) is op
                x = guarded_call(self.reg, f"the plugin input op `{d.op}` failed while lowering", d.op_span,
                                 op.lower, self.b, x, plugin_entry=not builtin)
            self.env[d.name] = x
            return BlockInfo("", [strip_ref(d.name)], d.text, d.span, x.shape)
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
        if not owned or st.broken:   # a duplicate stack name (lowering it would clash with the first), or a
            current = POISON         # block string of it that did not parse: both reported already
        position = 0
        for blk in rest:
            if current is not POISON and blk.label is not None and not self._owns(blk.label, blk.label_span,
                                                                                   blk.via):
                current = POISON   # a duplicate label, reported
            if current is POISON:
                try:
                    self._check(blk, st)
                except NetcError as err:
                    self.bag.add(with_via(err, blk))
                self._poison_label(blk)
                self.budget.retire(blk)
                continue
            row = BlockInfo(st.name, [], blk.text, blk.span, None)
            try:
                current, position = self._block(blk, st, current, position, row)
            except NetcError as err:
                self.bag.add(with_via(err, blk))
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
                self.b.output(strip_ref(ref.name), v)
            except NetcError as err:
                self.bag.add(err)

def _model_name(spec: ast.Spec) -> str:
    import os
    base = os.path.basename(spec.file)
    return os.path.splitext(base)[0] or "netc_model"


def analyze(spec: ast.Spec, limits: Limits | None = None, registry: Registry | None = None,
            errors: NetcError | None = None) -> CheckedModel:
    """Check ``spec`` and lower it to the IR; raises :class:`NetcError` listing every independent error,
    ``errors`` (the frontend's, for a spec read without what failed to parse) among them.
    The IR verifier checks the lowered graph (a failure there is netc's bug, not the spec's)."""
    from netc.ir.verify import verify_graph
    from netc.semantic.templates import expand
    reg = registry if registry is not None else REGISTRY
    limits = limits or Limits()
    try:
        spec = expand(spec, set(reg.blocks) | set(reg.ops) | set(reg.modules), max_blocks=limits.nodes)
    except NetcError as err:
        if errors is None:
            raise
        bag = DiagnosticBag()
        bag.add(errors)
        bag.add(err)
        bag.raise_if_any()
    analyzer = Analyzer(spec, limits, reg)
    if errors is not None:
        analyzer.bag.add(errors)
    checked = analyzer.run()
    verify_graph(checked.graph)
    return checked
