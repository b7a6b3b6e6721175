"""The numpy interpreter against hand-computed values and a naive reference convolution."""
from __future__ import annotations

import numpy as np
import pytest

from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.graph import Graph, Prim
from netc.ir.weights import init_weights


def _single(shape, make, **weights) -> tuple[Graph, dict]:
    """A graph applying ``make(builder, x)`` to one input; weights set by role name (``kernel=...``)."""
    b = Builder()
    x = b.input("x", shape)
    b.output("y", make(b, x))
    values = init_weights(b.graph, seed=3, randomize=True)
    for node in b.graph.nodes:
        for key, w in node.weights.items():
            if key in weights:
                values[w.name] = np.asarray(weights[key], np.float32)
    return b.graph, values


def _run1(graph: Graph, values: dict, x: np.ndarray) -> np.ndarray:
    return interp.run(graph, values, {"x": x.astype(np.float32)})["y"]


def _grid4() -> np.ndarray:
    return np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)


# ----------------------------------------------------------------------------- resize
def test_bilinear_x2_matches_hand_computed_half_pixel():
    g, w = _single((1, 2, 2, 1), lambda b, x: b.resize(x, 2, "bilinear"))
    y = _run1(g, w, np.array([[0, 1], [2, 3]], np.float32).reshape(1, 2, 2, 1))[0, :, :, 0]
    np.testing.assert_allclose(y[0], [0, .25, .75, 1], atol=1e-7)
    expected = [[0, .25, .75, 1], [.5, .75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3]]
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_nearest_x2_repeats():
    g, w = _single((1, 2, 2, 1), lambda b, x: b.resize(x, 2, "nearest"))
    y = _run1(g, w, np.array([[0, 1], [2, 3]], np.float32).reshape(1, 2, 2, 1))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


# ----------------------------------------------------------------------------- SAME padding
@pytest.mark.parametrize("hw", [4, None])
def test_same_conv_pads_extra_pixel_after(hw):
    """4x4, 3x3 ones, stride 2: total pad 1 goes bottom/right (TF SAME), static or dynamic size."""
    g, w = _single((1, hw, hw, 1), lambda b, x: b.conv(x, 1, 3, 2, "same"), kernel=np.ones((3, 3, 1, 1)))
    conv = g.nodes[-1]
    assert conv.attrs["pads"] == ((0, 0, 1, 1) if hw else None)
    y = _run1(g, w, _grid4())[0, :, :, 0]
    # rows/cols 0..2 | 2..3 of [[0..3],[4..7],[8..11],[12..15]]
    np.testing.assert_array_equal(y, [[45, 39], [66, 50]])


def test_same_avgpool_excludes_padding_and_maxpool():
    g, w = _single((1, 4, 4, 1), lambda b, x: b.pool("avg", x, 3, 2, "same"))
    np.testing.assert_allclose(_run1(g, w, _grid4())[0, :, :, 0], [[5, 6.5], [11, 12.5]])
    g, w = _single((1, 4, 4, 1), lambda b, x: b.pool("max", x, 3, 2, "same"))
    np.testing.assert_array_equal(_run1(g, w, _grid4())[0, :, :, 0], [[10, 11], [14, 15]])


def test_valid_pool():
    g, w = _single((1, 4, 4, 1), lambda b, x: b.pool("avg", x, 2, 2, "valid"))
    np.testing.assert_allclose(_run1(g, w, _grid4())[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


# ----------------------------------------------------------------------------- convolution
def _naive_conv(x, k, stride, pads, groups):
    """Direct loops: the textbook definition, independent of the interpreter's slicing."""
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    kh, kw, cin_g, cout = k.shape
    oh, ow = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    cout_g = cout // groups
    y = np.zeros((x.shape[0], oh, ow, cout))
    for o in range(cout):
        gi = o // cout_g
        for r in range(oh):
            for c in range(ow):
                win = xp[:, r * stride:r * stride + kh, c * stride:c * stride + kw, gi * cin_g:(gi + 1) * cin_g]
                y[:, r, c, o] = np.einsum("nhwc,hwc->n", win, k[:, :, :, o])
    return y


@pytest.mark.parametrize("size,kernel,stride,padding,groups", [
    (7, 3, 2, "same", 1), (8, 3, 2, "same", 1), (6, 5, 1, "same", 2), (9, 3, 2, "valid", 4), (5, 1, 1, "valid", 1),
])
def test_conv_matches_naive_loops(size, kernel, stride, padding, groups):
    g, w = _single((2, size, size, 4), lambda b, x: b.conv(x, 8, kernel, stride, padding, groups=groups, bias=True))
    node = g.nodes[-1]
    x = np.random.default_rng(0).normal(size=(2, size, size, 4)).astype(np.float32)
    ref = _naive_conv(x, w[node.weights["kernel"].name], stride, node.attrs["pads"], groups)
    ref += w[node.weights["bias"].name]
    got = _run1(g, w, x)
    assert got.dtype == np.float32 and got.shape[1:] == node.out.shape[1:]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_depthwise_is_per_channel():
    g, w = _single((1, 7, 7, 3), lambda b, x: b.depthwise(x, 5, 2))
    node = g.nodes[-1]
    x = np.random.default_rng(1).normal(size=(1, 7, 7, 3)).astype(np.float32)
    k = w[node.weights["kernel"].name]
    ref = _naive_conv(x, k, 2, node.attrs["pads"], groups=3)
    np.testing.assert_allclose(_run1(g, w, x), ref, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- pointwise ops
def test_batchnorm_formula():
    c = 2
    g, w = _single((1, 1, 2, c), lambda b, x: b.batchnorm(x, epsilon=0.5),
                   gamma=[2, 1], beta=[1, 0], moving_mean=[1, -1], moving_variance=[1.5, 3.5])
    x = np.array([[[[3, 1], [1, -3]]]], np.float32)
    np.testing.assert_allclose(_run1(g, w, x)[0, 0], [[2 * 2 / np.sqrt(2) + 1, 2 / 2], [1, -2 / 2]], rtol=1e-6)


def test_hardswish_relu6_sigmoid_swish_affine():
    x = np.array([-4, -3, -1, 0, 1, 3, 4, 7], np.float32).reshape(1, 1, 8, 1)
    cases = [
        (lambda b, v: b.hardswish(v), x * np.clip(x + 3, 0, 6) / 6),
        (lambda b, v: b.relu(v, 6.0), np.clip(x, 0, 6)),
        (lambda b, v: b.relu(v), np.maximum(x, 0)),
        (lambda b, v: b.sigmoid(v), 1 / (1 + np.exp(-x.astype(np.float64)))),
        (lambda b, v: b.swish(v), x / (1 + np.exp(-x.astype(np.float64)))),
        (lambda b, v: b.affine(v, 0.5, -1.0), x * 0.5 - 1),
    ]
    for make, expected in cases:
        g, w = _single((1, 1, 8, 1), make)
        np.testing.assert_allclose(_run1(g, w, x), expected, rtol=1e-6, atol=1e-7)
    hs = _single((1, 1, 8, 1), lambda b, v: b.hardswish(v))
    np.testing.assert_allclose(_run1(*hs, x).ravel()[:7], [0, 0, -1 / 3, 0, 2 / 3, 3, 4], atol=1e-6)


@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu(per_channel):
    g, w = _single((1, 2, 3, 2), lambda b, x: b.prelu(x, per_channel=per_channel))
    alpha = w[g.nodes[-1].weights["alpha"].name]
    x = np.random.default_rng(2).normal(size=(1, 2, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(_run1(g, w, x), np.where(x >= 0, x, alpha * x), rtol=1e-7)


def test_global_avgpool_mul_add_concat():
    def make(b, x):
        s = b.global_avgpool(x)
        return b.concat([b.mul(x, s), b.add(x, s)])
    g, w = _single((2, 3, 3, 4), make)
    x = np.random.default_rng(4).normal(size=(2, 3, 3, 4)).astype(np.float32)
    m = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(_run1(g, w, x), np.concatenate([x * m, x + m], axis=-1), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- driver
def test_every_prim_is_defined():
    assert set(interp.OPS) == set(Prim) - {Prim.INPUT}


def test_missing_input_raises():
    g, w = _single((1, 2, 2, 1), lambda b, x: b.relu(x))
    with pytest.raises(KeyError):
        interp.run(g, w, {})


def test_224_model_runs():
    """Its speed is measured by bench/interp.py, not asserted here (wall time depends on the machine)."""
    b = Builder()
    x = b.input("x", (None, 224, 224, 3))
    y = b.relu(b.batchnorm(b.conv(x, 16, 3, 2, name="stem")), 6.0)
    y = b.hardswish(b.depthwise(y, 3))
    y = b.conv(y, 24, 1, name="project")
    y = b.pool("max", y, 3, 2, "same")
    b.output("y", b.resize(y))
    w = init_weights(b.graph, 0, randomize=True)
    out = interp.run(b.graph, w, {"x": np.ones((2, 224, 224, 3), np.float32)})["y"]
    assert out.shape == (2, 112, 112, 24)
    assert np.isfinite(out).all() and np.abs(out).max() > 0
