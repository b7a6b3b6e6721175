"""Names of a spec: what each defines, where, in which order, and which stand for a failure reported already.

A failed block poisons its label and its stack: a later use of them is skipped without a new error."""
from __future__ import annotations

import re

from netc import ast
from netc.diagnostics import DiagnosticBag, NetcError, Span, did_you_mean
from netc.ir.graph import Value


class _Poisoned:
    """Stands for a value whose producer failed; uses of it are skipped without a new error."""


POISON = _Poisoned()


def strip_ref(name: str) -> str:
    """A reference or label without its trailing `#`."""
    return name[:-1] if name.endswith("#") else name


class Scope:
    """The name-handling half of the :class:`netc.semantic.analyze.Analyzer` (a mixin over its state)."""

    spec: ast.Spec
    env: dict[str, "Value | list[Value] | _Poisoned"]
    defined: dict[str, Span]
    defined_via: dict[str, str | None]
    order: dict[str, int]
    bag: DiagnosticBag
    stack: str | None

    def _declare(self, name: str, span: Span, what: str, via: str | None = None) -> None:
        """Record that ``name`` is defined at ``span`` (``via``: by the expansion of a template use)."""
        if name in self.defined:
            first, first_via = self.defined[name], self.defined_via.get(name)
            if via is not None and first == span:   # one template line, expanded by two uses
                raise NetcError(f"duplicate name `{name}`: the template's label is defined again by each further "
                                f"use of the template; a label names one block, so a template holding one can be "
                                f"used once (or take the label as a parameter: `{{l}}#...`, used as `_l<name>`)",
                                span, notes=[f"first {first_via}", f"again {via}"])
            notes = [f"`{name}` was first defined at {first}" + (f" ({first_via})" if first_via else "")]
            raise NetcError(f"duplicate name `{name}`: {what} reuses a name first defined at line {first.line}",
                            span, notes=notes + ([via] if via else []))
        self.defined[name] = span
        self.defined_via[name] = via
        self.order[name] = len(self.order)

    def _owns(self, name: str, span: Span, via: str | None = None) -> bool:
        """Whether the definition at ``span`` (expanded ``via`` a template use) is the one that got ``name``
        (a duplicate is reported once)."""
        return self.defined.get(name) == span and self.defined_via.get(name) == via

    def _collect_names(self) -> None:
        for d in self.spec.inputs:
            self._try(self._declare, d.name, d.span, "an input")
        for st in self.spec.stacks:
            if st.name == self.spec.input_stack:
                continue
            self._try(self._declare, st.name, st.span, "a stack")
            for blk in st.blocks:
                if blk.label is not None:
                    self._try(self._declare, blk.label, blk.label_span, "a block label", blk.via)

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

    def _poison_label(self, blk: ast.Block) -> None:
        """A block that failed or was skipped: its label now stands for a failure, reported once already (so a
        later use of it is skipped, not reported as unknown or "defined later")."""
        if blk.label is not None and blk.label not in self.env and self._owns(blk.label, blk.label_span, blk.via):
            self.env[blk.label] = POISON

    def _ref_pos(self, blk: ast.Block, st: ast.Stack) -> int:
        """The definition-order position a block's references must precede."""
        pos = self.order.get(blk.label, self.order.get(st.name, 0)) if blk.label else self.order.get(st.name, 0)
        return pos + 1 if blk.label else pos
