"""Pure-numpy reference interpreter of the IR: the living definition of each primitive.

Tensors are channels-last (NHWC images, (N, C) features), float32 with sums accumulated in float64; each
primitive returns its input's float type, so the same definitions also run wholly in float64 (``run(...,
dtype=np.float64)``), the exact reference for graph rewrites. Every :class:`Prim` has one small function
in :data:`OPS`; a backend is correct when it agrees with these.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from netc.ir.builder import same_pads
from netc.ir.graph import Graph, Node, Prim
from netc.ir.weights import WeightValues

Array = np.ndarray
OpFn = Callable[[Node, list[Array], WeightValues], Array]


def _w(node: Node, key: str, weights: WeightValues) -> Array:
    w = np.asarray(weights[node.weights[key].name])
    return w if w.dtype == np.float64 else w.astype(np.float32, copy=False)


def _ft(x: Array) -> type:
    """The float type results keep: float32, or float64 in a wide run."""
    return x.dtype.type if x.dtype == np.float64 else np.float32


def window_pads(node: Node, x: Array) -> tuple[int, int, int, int]:
    """(top, left, bottom, right): the node's static pads, or TF SAME pads for ``x``'s actual size."""
    pads = node.attrs.get("pads")
    if pads is not None:
        return tuple(pads)
    if node.attrs.get("padding") != "same":
        return (0, 0, 0, 0)
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    _, pt, pb = same_pads(x.shape[1], kh, sh)
    _, pl, pr = same_pads(x.shape[2], kw, sw)
    return (pt, pl, pb, pr)


def _windows(node: Node, x: Array, fill: float):
    """Pad ``x`` and yield the strided (N, oh, ow, C) slice of every kernel offset."""
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    pt, pl, pb, pr = window_pads(node, x)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]


# ----------------------------------------------------------------------------- primitives
def conv(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Grouped 2-D convolution, kernel (kh, kw, cin/groups, cout), cross-correlation as in TF."""
    x = xs[0].astype(np.float64)
    k = _w(node, "kernel", weights).astype(np.float64)
    groups = node.attrs.get("groups", 1)
    cin_g, cout = k.shape[2], k.shape[3]
    cout_g = cout // groups
    acc = None
    for i, j, patch in _windows(node, x, 0.0):
        if groups == 1:
            term = patch @ k[i, j]
        elif cin_g == 1 and cout_g == 1:
            term = patch * k[i, j, 0]
        else:
            n, oh, ow, _ = patch.shape
            xg = patch.reshape(-1, groups, cin_g).transpose(1, 0, 2)
            kg = k[i, j].reshape(cin_g, groups, cout_g).transpose(1, 0, 2)
            term = (xg @ kg).transpose(1, 0, 2).reshape(n, oh, ow, cout)
        acc = term if acc is None else acc + term
    if "bias" in node.weights:
        acc = acc + _w(node, "bias", weights)
    return acc.astype(_ft(xs[0]))


def batchnorm(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Inference batch norm: (x - mean) / sqrt(var + eps) * gamma + beta."""
    g, b, m, v = (_w(node, k, weights).astype(np.float64)
                  for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    scale = g / np.sqrt(v + node.attrs["epsilon"])
    return ((xs[0] - m) * scale + b).astype(_ft(xs[0]))


def affine(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    ft = _ft(xs[0])
    scale, offset = ft(np.float32(node.attrs["scale"])), ft(np.float32(node.attrs["offset"]))
    return (xs[0] * scale + offset).astype(ft)


def relu(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    top = node.attrs.get("max_value")
    ft = _ft(xs[0])
    y = np.maximum(xs[0], ft(0))
    return y if top is None else np.minimum(y, ft(np.float32(top)))


def _relu6(x: Array) -> Array:
    return np.clip(x, 0, 6).astype(_ft(x))


def hardswish(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    x, ft = xs[0], _ft(xs[0])
    return (x * _relu6(x + ft(3)) / ft(6)).astype(ft)


def _sigmoid(x: Array) -> Array:
    x64 = x.astype(np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * x64))).astype(_ft(x))


def sigmoid(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    return _sigmoid(xs[0])


def swish(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    return (xs[0] * _sigmoid(xs[0])).astype(_ft(xs[0]))


def prelu(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """x where x >= 0, else alpha * x; alpha (H, W, C) or (1, 1, C) broadcasts over NHWC."""
    x, alpha = xs[0], _w(node, "alpha", weights)
    return np.where(x >= 0, x, alpha * x).astype(_ft(x))


def add(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Sum of two or more tensors, left to right in float32 (as the frameworks add)."""
    acc = xs[0]
    for x in xs[1:]:
        acc = (acc + x).astype(_ft(xs[0]))
    return acc


def mul(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    return (xs[0] * xs[1]).astype(_ft(xs[0]))


def concat(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    return np.concatenate(xs, axis=-1)


def bilinear_taps(size: int, scale: int) -> tuple[Array, Array, Array]:
    """Half-pixel bilinear taps along one axis: (lower index, upper index, upper weight), edge-clamped."""
    src = (np.arange(size * scale, dtype=np.float64) + 0.5) / scale - 0.5
    floor = np.floor(src)
    frac = src - floor
    lo = np.clip(floor, 0, size - 1).astype(np.int64)
    hi = np.clip(floor + 1, 0, size - 1).astype(np.int64)
    return lo, hi, frac


def resize(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Upsample: mode "bilinear" is tf.image.resize (half-pixel centres), "nearest" is UpSampling2D."""
    x = xs[0]
    sh, sw = node.attrs["scale"]
    mode = node.attrs["mode"]
    if mode == "nearest":
        return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)
    if mode != "bilinear":
        raise ValueError(f"unknown resize mode {mode!r}")
    y = x.astype(np.float64)
    for axis, s in ((1, sh), (2, sw)):
        lo, hi, frac = bilinear_taps(y.shape[axis], s)
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        frac = frac.reshape(shape)
        y = np.take(y, lo, axis=axis) * (1.0 - frac) + np.take(y, hi, axis=axis) * frac
    return y.astype(_ft(x))


def avgpool(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Average over each window's in-bounds elements (padding not counted)."""
    x = xs[0].astype(np.float64)
    ones = np.ones(x.shape[:3] + (1,), np.float64)
    total = sum(p for _, _, p in _windows(node, x, 0.0))
    count = sum(p for _, _, p in _windows(node, ones, 0.0))
    return (total / count).astype(_ft(xs[0]))


def maxpool(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    out = None
    for _, _, p in _windows(node, xs[0], -np.inf):
        out = p if out is None else np.maximum(out, p)
    return out.astype(_ft(xs[0]))


def global_avgpool(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    keep = node.attrs.get("keepdims", True)
    return xs[0].astype(np.float64).mean(axis=(1, 2), keepdims=keep).astype(_ft(xs[0]))


def pad(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    t, l, b, r = node.attrs["pads"]
    return np.pad(xs[0], ((0, 0), (t, b), (l, r), (0, 0)))


def flatten(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    return xs[0].reshape(xs[0].shape[0], -1)


def dense(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    y = xs[0].astype(np.float64) @ _w(node, "kernel", weights).astype(np.float64)
    if "bias" in node.weights:
        y = y + _w(node, "bias", weights)
    return y.astype(_ft(xs[0]))


def softmax(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    x = xs[0].astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(_ft(xs[0]))


def dropout(node: Node, xs: list[Array], weights: WeightValues) -> Array:
    """Identity: the IR describes inference."""
    return xs[0]


OPS: dict[Prim, OpFn] = {
    Prim.CONV: conv,
    Prim.BATCHNORM: batchnorm,
    Prim.AFFINE: affine,
    Prim.RELU: relu,
    Prim.HARDSWISH: hardswish,
    Prim.SWISH: swish,
    Prim.SIGMOID: sigmoid,
    Prim.PRELU: prelu,
    Prim.ADD: add,
    Prim.MUL: mul,
    Prim.CONCAT: concat,
    Prim.RESIZE: resize,
    Prim.AVGPOOL: avgpool,
    Prim.MAXPOOL: maxpool,
    Prim.GLOBAL_AVGPOOL: global_avgpool,
    Prim.PAD: pad,
    Prim.FLATTEN: flatten,
    Prim.DENSE: dense,
    Prim.SOFTMAX: softmax,
    Prim.DROPOUT: dropout,
}


# ----------------------------------------------------------------------------- driver
def run(graph: Graph, weights: WeightValues, inputs: dict[str, Array],
        before: Callable[[Node, list[Array]], None] | None = None, dtype: type = np.float32) -> dict[str, Array]:
    """Evaluate ``graph`` on channels-last ``inputs`` (keyed by input value name); outputs by output name.

    ``before(node, input_arrays)``, when given, is called ahead of each node (calibration uses it).
    ``dtype=np.float64`` evaluates every primitive in float64 (weights too): the exact reference that
    proves a graph rewrite exact, where float32 would only agree to rounding."""
    if dtype is not np.float32:
        weights = {k: np.asarray(v, dtype) for k, v in weights.items()}
    env: dict[int, Array] = {}
    for v in graph.inputs:
        if v.name not in inputs:
            raise KeyError(f"missing input {v.name!r}")
        env[v.id] = np.asarray(inputs[v.name], dtype=dtype)
    for node in graph.nodes:
        if node.prim is Prim.INPUT:
            continue
        fn = OPS.get(node.prim)
        if fn is None:
            raise NotImplementedError(f"the interpreter has no definition of {node.prim}")
        xs = [env[v.id] for v in node.inputs]
        if before is not None:
            before(node, xs)
        env[node.out.id] = fn(node, xs, weights)
    return {name: env[v.id] for name, v in graph.outputs}

