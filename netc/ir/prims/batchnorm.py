"""batchnorm: the channel-wise affine, every part optional (decided once for BN, BN without scale or centre,
Keras Normalization and layer scale):

    y = (x - mean) / d * gamma + beta,   d = sqrt(var + eps) (rule "add", BatchNormalization)
                                          d = max(sqrt(var), eps) (rule "max", Normalization)

over the last axis. Without statistics (``moving_mean``, ``moving_variance``: both or neither) it is
``x * gamma + beta`` (layer scale: gamma alone). ``count`` is Keras Normalization's sample count (no effect).
"""
from __future__ import annotations

from netc.ir.prims._base import PrimDef, ftype, np

STATS = ("moving_mean", "moving_variance")


def scale_shift(node, weights: dict):
    """Per-channel (scale, shift) in float64: y = x * scale + shift (scalars 1.0 / 0.0 where a part is absent)."""
    w = {k: np.asarray(weights[v.name], np.float64) for k, v in node.weights.items()}
    scale = w.get("gamma", np.float64(1.0))
    shift = w.get("beta", np.float64(0.0))
    if "moving_mean" in w:
        eps = float(node.attrs["epsilon"])
        var = w["moving_variance"]
        d = np.sqrt(var + eps) if node.attrs.get("epsilon_rule", "add") == "add" else \
            np.maximum(np.sqrt(var), eps)
        scale = scale / d
        shift = shift - w["moving_mean"] * scale
    return scale, shift


def has_stats(node) -> bool:
    return "moving_mean" in node.weights


def _run(node, xs, weights):
    x = xs[0]
    if not has_stats(node):
        scale, shift = scale_shift(node, weights)
        return (x * scale + shift).astype(ftype(x))
    w = {k: np.asarray(weights[v.name], np.float64) for k, v in node.weights.items()}
    scale, _ = scale_shift(node, weights)
    return ((x - w["moving_mean"]) * scale + w.get("beta", 0.0)).astype(ftype(x))


def _check(n) -> str | None:
    c = n.inputs[0].channels
    if (("moving_mean" in n.weights) != ("moving_variance" in n.weights)) or \
            ("count" in n.weights and not has_stats(n)):
        return f"statistics {sorted(set(n.weights) & {*STATS, 'count'})}: mean and variance go together"
    if not n.weights:
        return "no weights: an identity"
    if n.attrs.get("epsilon_rule", "add") not in ("add", "max"):
        return f"epsilon_rule {n.attrs['epsilon_rule']!r}"
    for k, w in n.weights.items():
        want = () if k == "count" else (c,)
        if w.shape != want:
            return f"weight {k} shape {w.shape}, expected {want}"
    return None


DEF = PrimDef("batchnorm", "channel-wise affine (BN, Normalization, layer scale); attrs: epsilon, momentum, "
              "epsilon_rule", (1, 1), _run, attrs=("epsilon", "momentum"),
              roles={"gamma": ("gamma",), "beta": ("beta",), "moving_mean": ("moving_mean",),
                     "moving_variance": ("moving_variance",), "count": ("count",)},
              same_shape=True, check=_check)


class Build:
    def batchnorm(self, x, name: str = "bn", epsilon: float = 1e-3, momentum: float = 0.99, *,
                  scale: bool = True, center: bool = True):
        """Inference batch norm (Keras BatchNormalization; ``scale``/``center`` False drop gamma/beta)."""
        c = (x.channels,)
        weights = {}
        if scale:
            weights["gamma"] = self._weight(name, "gamma", c, "gamma")
        if center:
            weights["beta"] = self._weight(name, "beta", c, "beta")
        weights["moving_mean"] = self._weight(name, "moving_mean", c, "moving_mean", trainable=False)
        weights["moving_variance"] = self._weight(name, "moving_variance", c, "moving_variance", trainable=False)
        return self._add(DEF.name, [x], x.shape, name, {"epsilon": epsilon, "momentum": momentum}, weights)

    def normalization(self, x, name: str = "normalization", epsilon: float = 1e-7):
        """Keras Normalization with its mean, variance and count weights: (x - mean) / max(sqrt(var), eps)."""
        c = (x.channels,)
        weights = {"moving_mean": self._weight(name, "mean", c, "moving_mean", trainable=False),
                   "moving_variance": self._weight(name, "variance", c, "moving_variance", trainable=False),
                   "count": self._weight(name, "count", (), "count", trainable=False)}
        return self._add(DEF.name, [x], x.shape, name,
                         {"epsilon": epsilon, "momentum": 0.0, "epsilon_rule": "max"}, weights)

    def channel_scale(self, x, name: str = "scale", *, shift: bool = False):
        """x * gamma (+ beta): a per-channel layer scale (ConvNeXt's LayerScale)."""
        c = (x.channels,)
        weights = {"gamma": self._weight(name, "gamma", c, "gamma")}
        if shift:
            weights["beta"] = self._weight(name, "beta", c, "beta")
        return self._add(DEF.name, [x], x.shape, name, {"epsilon": 0.0, "momentum": 0.0}, weights)
