"""Lowering one block of a stack by its kind: a layer block (with repeats), an op, a module, a `select:`."""
from __future__ import annotations

from netc import ast
from netc.blocks import REGISTRY
from netc.diagnostics import Diagnostic, NetcError, Span, did_you_mean
from netc.ir.graph import Origin, Value
from netc.semantic.model import BlockInfo
from netc.semantic.modules import as_layer_block, decode_kwargs, module_type
from netc.plugins import guarded_call
from netc.semantic.multipliers import scaled_args
from netc.semantic.scope import POISON, strip_ref


class Lowering:
    """The block-lowering half of the :class:`netc.semantic.analyze.Analyzer` (a mixin over its state)."""

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
        doing = f"`{code}` failed while lowering (in a plugin's code)" if builtin else \
            f"the plugin {what} `{code}` failed while lowering"
        out = guarded_call(self.reg, doing, span, lower, *args, plugin_entry=not builtin)
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
        if blk.code == "select":
            self._select(blk, st)
            return
        if self._layer_with_input(blk):
            self.reg.decode_args(_as_layer(blk), self._block_type(blk), self.limits)
            self._layer_input(blk, st, POISON)
            return
        op = self._op_type(blk)
        if op.params:
            self.reg.decode_args(blk, op, self.limits)
        for ref in blk.refs:
            self._resolve(ref, self._ref_pos(blk, st))

    def _layer_with_input(self, blk: ast.Block) -> bool:
        """`cn_k1_c64:x#`: a layer block (no op of that name) written with a reference, its input."""
        if blk.code not in self.reg.blocks or blk.code in self.reg.ops:
            return False
        return "_".join([blk.code, *(a.text for a in blk.args)]) not in self.reg.ops

    def _layer_input(self, blk: ast.Block, st: ast.Stack, current):
        """The tensor a layer block written with a reference reads (with none, `cn_k1_c8:`, the current one: a
        template can pass on `{refs}` whether its use gives one or not)."""
        if not blk.refs:
            return current
        if len(blk.refs) != 1:
            raise NetcError(f"a layer block takes one input: `{blk.text.split(':')[0]}:NAME#`, found "
                            f"{len(blk.refs)} references", blk.span)
        v = self._resolve(blk.refs[0], self._ref_pos(blk, st))
        if isinstance(v, list):
            raise NetcError(f"`{blk.refs[0].name}` holds {len(v)} tensors; name a single tensor", blk.refs[0].span)
        return v

    def _select(self, blk: ast.Block, st: ast.Stack):
        if blk.label is not None:
            raise NetcError("`select:` cannot carry a label: it names no new tensor (label the block whose output "
                            "it selects, or use `id:` to name the current tensor)", blk.label_span)
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
        stack_name = strip_ref(st.name)
        if blk.kind == "module":   # a module of the modular form is its own stack: the row takes its name
            row.module = stack_name
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
        elif blk.kind == "op" and blk.code == "select":   # later in a stack: the stack continues from there
            out = self._select(blk, st)
        elif blk.kind == "op" and self._layer_with_input(blk):
            out = self._layer_input(blk, st, current)
            if out is not POISON:
                out, position = self._layer(_as_layer(blk), out, position, stack_name, row)
        elif blk.kind == "op":
            out = self._op(blk, st, current, position, stack_name)
            position += 1
            row.names.append(self._block_name(blk, position - 1, True))
        else:
            out, position = self._layer(blk, current, position, stack_name, row)
        if out is not POISON:
            row.shape = out.shape if isinstance(out, Value) else None   # a multi-select holds several tensors
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
        name = strip_ref(blk.label) if (blk.label is not None and last) else f"layer_{position}"
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
        builtin = REGISTRY.blocks.get(blk.code) is btype
        own = guarded_call(self.reg, f"the plugin block type `{blk.code}` failed in `warnings()`", blk.code_span,
                           btype.warnings, args, plugin_entry=not builtin)
        if not isinstance(own, (list, tuple)) or not all(isinstance(w, tuple) and len(w) == 2 for w in own):
            if builtin:
                raise TypeError(f"block type `{blk.code}`'s warnings() returned {own!r}")
            raise NetcError(f"the plugin block type `{blk.code}`: `warnings()` must return a list of "
                            f"(message, span) pairs, not {type(own).__name__}", blk.code_span)
        for msg, span in warns + list(own):
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
            a = self.drop_connect.copy_args(btype, a)
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
        op = self.reg.ops.get(blk.code)
        if op is not None and blk.args and not op.params:
            op = None
        if op is None:   # an op whose name holds `_` (`up_x2:`) and takes no arguments
            op = self.reg.ops.get("_".join([blk.code, *(a.text for a in blk.args)]))
            if op is not None:
                return op
        if op is None and blk.code in self.reg.ops:   # `cnct_k3:`: the op exists, but takes no arguments
            first = blk.args[0]
            raise NetcError(f"`{blk.code}:` takes no arguments, found `_{first.text}`; write it `{blk.code}:` and "
                            f"its references", first.span, notes=[f"`{blk.code}:` {self.reg.ops[blk.code].doc}"])
        if op is None:
            if blk.code in self.reg.blocks:
                raise NetcError(f"`{blk.code}` is a layer block, not an op: write it without the colon",
                                blk.code_span)
            ops = [f"{o}:" for o in self.reg.ops]
            raise NetcError(f"unknown op `{blk.code}:`{did_you_mean(blk.code + ':', ops)}", blk.code_span,
                            notes=["ops: " + ", ".join(ops)])
        return op

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


def _as_layer(blk: ast.Block) -> ast.Block:
    """A layer block written with a reference, as the layer it is (its input resolved apart)."""
    import dataclasses
    return dataclasses.replace(blk, kind="layer", refs=())


def _params(nodes) -> int:
    return sum(w.size for node in nodes for w in node.weights.values())


def with_via(err: NetcError, blk: ast.Block) -> NetcError:
    """Add the use site to an error inside a template's expansion."""
    if blk.via is not None:
        for d in err.diagnostics:
            if blk.via not in d.notes:
                d.notes.append(blk.via)
    return err
