"""concat: concatenation on the channel (last) axis."""
from __future__ import annotations

from typing import Sequence

from netc.ir.prims._base import PrimDef, np, same_rank
from netc.ir.shapes import fmt_hw, fmt_shape


def _run(node, xs, weights):
    return np.concatenate(xs, axis=-1)


def _check(n) -> str | None:
    msg = same_rank(n)
    if msg:
        return msg
    c = sum(v.channels for v in n.inputs)
    return None if n.out.channels == c else f"output has {n.out.channels} channels, inputs sum to {c}"


DEF = PrimDef("concat", "concatenation on the channel axis", (2, None), _run, check=_check)


class Build:
    def concat(self, xs: Sequence, name: str = "concat", names: Sequence[str] | None = None):
        """Concatenation on the channel (last) axis; the other dims must agree."""
        names = list(names or [x.name for x in xs])
        ref = xs[0]
        for x, n in zip(xs[1:], names[1:]):
            if x.rank != ref.rank:
                raise self.error(f"concat: `{names[0]}` is {fmt_shape(ref.shape)} but `{n}` is "
                                 f"{fmt_shape(x.shape)}: the ranks differ")
            for axis in range(1, ref.rank - 1):
                if ref.shape[axis] is not None and x.shape[axis] is not None and ref.shape[axis] != x.shape[axis]:
                    raise self.error(
                        f"concat: spatial sizes differ: `{names[0]}` is {fmt_hw(ref.shape)} "
                        f"({fmt_shape(ref.shape)}) but `{n}` is {fmt_hw(x.shape)} ({fmt_shape(x.shape)})")
        inner = tuple(next((x.shape[axis] for x in xs if x.shape[axis] is not None), None)
                      for axis in range(1, ref.rank - 1))
        c = sum(x.shape[-1] for x in xs)
        return self._add(DEF.name, list(xs), (None, *inner, c), name)
