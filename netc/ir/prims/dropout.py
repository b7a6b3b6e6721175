"""dropout: identity at inference; a Dropout layer in the Keras training form. ``noise_shape`` "sample" drops
whole samples (stochastic depth / EfficientNet's drop-connect, Keras ``noise_shape=(None, 1, 1, 1)``)."""
from __future__ import annotations

from netc.ir.prims._base import PrimDef


def _run(node, xs, weights):
    """Identity: the IR describes inference."""
    return xs[0]


def _check(n) -> str | None:
    return None if n.attrs.get("noise_shape", "element") in ("element", "sample") else \
        f"noise_shape {n.attrs['noise_shape']!r}"


DEF = PrimDef("dropout", "identity at inference; attrs: rate[, noise_shape element | sample]", (1, 1), _run,
              attrs=("rate",), same_shape=True, check=_check)


class Build:
    def dropout(self, x, rate: float, name: str = "dropout", per_sample: bool = False):
        if not 0.0 <= rate < 1.0:
            raise self.error(f"dropout rate must be in [0, 1), found {rate:g}")
        attrs = {"rate": float(rate)}
        if per_sample:
            attrs["noise_shape"] = "sample"
        return self._add(DEF.name, [x], x.shape, name, attrs)
