"""The primitive-per-file layout: every primitive defines every part, each backend emits it or decomposes it
into what it emits, and each primitive's reference semantics agree with hand-computed values, onnxruntime and
stock Keras layers."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from netc.backends import BACKENDS, LOWERING_ONLY
from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.graph import Graph, Prim
from netc.ir.prims import DEFS, MODULES, PrimDef
from netc.ir.verify import verify_graph
from netc.ir.weights import init_weights

# One small graph per primitive, made through its builder method: a new primitive needs a line here.
MAKERS = {
    Prim.AFFINE: lambda b, x: b.affine(x, 0.5, -1.0),
    Prim.CONV: lambda b, x: b.conv(x, 4, (1, 3), (2, 1), bias=True),
    Prim.BATCHNORM: lambda b, x: b.batchnorm(x, scale=False),
    Prim.RELU: lambda b, x: b.relu(x, 6.0),
    Prim.HARDSWISH: lambda b, x: b.hardswish(x),
    Prim.SWISH: lambda b, x: b.swish(x),
    Prim.SIGMOID: lambda b, x: b.sigmoid(x),
    Prim.GELU: lambda b, x: b.gelu(x),
    Prim.ERF: lambda b, x: b.erf(x),
    Prim.RSQRT: lambda b, x: b.rsqrt(b.affine(b.mul(x, x), 1.0, 0.5)),
    Prim.REDUCE_MEAN: lambda b, x: b.add(x, b.reduce_mean(x)),
    Prim.PRELU: lambda b, x: b.prelu(x, per_channel=True),
    Prim.ADD: lambda b, x: b.add_n([x, b.relu(x), b.sigmoid(x)]),
    Prim.MUL: lambda b, x: b.mul(x, b.sigmoid(x)),
    Prim.CONCAT: lambda b, x: b.concat([x, b.relu(x)]),
    Prim.RESIZE: lambda b, x: b.resize(x, 2, "bilinear"),
    Prim.AVGPOOL: lambda b, x: b.pool("avg", x, (3, 1), 2, "same"),
    Prim.MAXPOOL: lambda b, x: b.pool("max", x, 3, (1, 2), "same"),
    Prim.GLOBAL_AVGPOOL: lambda b, x: b.global_avgpool(x, keepdims=True),
    Prim.PAD: lambda b, x: b.pad(x, (1, 0, 2, 1)),
    Prim.CROP: lambda b, x: b.crop(x, (1, 0, 0, 2)),
    Prim.FLATTEN: lambda b, x: b.flatten(x),
    Prim.DENSE: lambda b, x: b.dense(x, 5),
    Prim.SOFTMAX: lambda b, x: b.softmax(x),
    Prim.DROPOUT: lambda b, x: b.dropout(x, 0.2, per_sample=True),
    Prim.LAYERNORM: lambda b, x: b.layernorm(x, epsilon=1e-2),   # 3 channels: a tiny variance amplifies rounding
    Prim.SEPCONV: lambda b, x: b.sepconv(x, 5, 3, 2, bias=True),
}
# Other forms of the same primitives, run through the backends too.
VARIANTS = {
    "normalization": lambda b, x: b.normalization(x),
    "layer_scale": lambda b, x: b.channel_scale(x, shift=True),
    "batchnorm": lambda b, x: b.batchnorm(x, center=False),
    "depthwise_bias": lambda b, x: b.depthwise(x, (3, 5), 2, "valid", bias=True),
    "dense_features": lambda b, x: b.dense(b.global_avgpool(x, keepdims=False), 4),
    "layernorm_features": lambda b, x: b.layernorm(b.global_avgpool(x, keepdims=False), epsilon=1e-2),
}
SHAPE = (None, 6, 7, 3)


def _graph(prim, seed: int = 3) -> tuple[Graph, dict]:
    b = Builder()
    x = b.input("x", SHAPE)
    b.output("y", {**MAKERS, **VARIANTS}[prim](b, x))
    verify_graph(b.graph)
    return b.graph, init_weights(b.graph, seed=seed, randomize=True)


def _x(seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, *SHAPE[1:])).astype(np.float32)


def test_every_primitive_defines_every_part():
    assert set(MAKERS) == set(Prim) - {Prim.INPUT}, "each primitive needs a maker in MAKERS"
    for prim, mod in MODULES.items():
        d = mod.DEF
        assert isinstance(d, PrimDef) and d.name == prim.value == mod.__name__.rsplit(".", 1)[1]
        assert d.doc and callable(d.run) and d.inputs[0] <= (d.inputs[1] or 99)
        assert set(d.weights) <= set(d.roles), prim
        assert hasattr(mod, "Build") and [m for m in vars(mod.Build) if not m.startswith("_")], prim
        if prim is not Prim.INPUT:
            g, _ = _graph(prim)
            assert prim in {n.prim for n in g.nodes}, f"{prim}'s maker does not make it"
            weighted = [n for n in g.nodes if n.prim is prim and n.weights]
            for n in weighted:
                assert set(n.weights) <= set(d.roles)
    for prim in (Prim.CONV, Prim.SEPCONV, Prim.DENSE):   # the primitives that multiply-accumulate
        assert DEFS[prim].macs is not None
        g, _ = _graph(prim)
        assert next(n for n in g.nodes if n.prim is prim).macs() > 0
    assert not hasattr(importlib.import_module("netc.ir.graph"), "PrimGroup")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_emits_or_decomposes_every_primitive(name):
    """Lowered for the backend, every primitive's graph holds only primitives of its table."""
    from netc.ir.decompose import RULES
    backend = BACKENDS[name]
    for opt in ([{"opset": o} for o in (11, 13, 17, 20)] if name == "onnx" else [{}]):
        table = backend.prims(**opt)
        assert set(Prim) - table - LOWERING_ONLY - {Prim.INPUT} <= set(RULES), (name, opt)
        for prim in MAKERS:
            if prim in LOWERING_ONLY and prim not in table:
                continue   # only decompositions make it, and none made for this backend does (asserted below)
            g, w = _graph(prim)
            low, _ = backend.lower(g, w, **opt)
            left = {n.prim for n in low.nodes} - table
            assert not left, (name, opt, prim, left)


def test_hand_computed_values():
    x = np.array([[1.0, 2.0, 3.0, 6.0]], np.float32)
    b = Builder()
    v = b.input("x", (None, 4))
    b.output("ln", b.layernorm(v, epsilon=0.0, scale=False, center=False))
    b.output("gelu", b.gelu(v))
    g = b.graph
    out = interp.run(g, {}, {"x": x}, dtype=np.float64)
    # mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5
    assert np.allclose(out["ln"], (x - 3.0) / math.sqrt(3.5), atol=1e-12)
    want = [0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in x[0]]
    assert np.allclose(out["gelu"][0], want, atol=1e-12)
    assert abs(out["gelu"][0, 0] - 0.8413447460685429) < 1e-12     # Phi(1), tables


def test_channel_affine_forms():
    b = Builder()
    x = b.input("x", (None, 2))
    b.output("bn", b.batchnorm(x, "bn", epsilon=0.25, scale=False))
    b.output("norm", b.normalization(x, "norm"))
    b.output("scale", b.channel_scale(x, "ls"))
    w = {"bn/beta": np.array([1.0, -1.0]), "bn/moving_mean": np.array([2.0, 0.0]),
         "bn/moving_variance": np.array([0.75, 3.75]),
         "norm/mean": np.array([1.0, 1.0]), "norm/variance": np.array([4.0, 0.0]), "norm/count": np.array(9.0),
         "ls/gamma": np.array([1e-6, 3.0])}
    verify_graph(b.graph, w)
    out = interp.run(b.graph, w, {"x": np.array([[4.0, 2.0]])}, dtype=np.float64)
    assert np.allclose(out["bn"], [[(4 - 2) / 1.0 + 1, 2 / 2.0 - 1]])
    assert np.allclose(out["norm"], [[(4 - 1) / 2.0, (2 - 1) / 1e-7]])   # max(sqrt(var), 1e-7)
    assert np.allclose(out["scale"], [[4e-6, 6.0]])
    assert sum(wt.size for wt in b.graph.weights) == 3 * 2 + (2 + 2 + 1) + 2   # count is one parameter, as Keras counts


def test_shapes_by_hand():
    b = Builder()
    x = b.input("x", (None, 17, 17, 8))
    assert b.conv(x, 4, (1, 7), name="c1").shape == (None, 17, 17, 4)
    assert b.conv(x, 4, (7, 1), 2, "valid", name="c2").shape == (None, 6, 9, 4)
    assert b.sepconv(x, 6, 3, 2).shape == (None, 9, 9, 6)
    assert b.crop(b.pad(x, (0, 0, 1, 1)), (1, 0, 0, 1)).shape == (None, 17, 17, 8)
    assert b.pool("max", x, 3, 2, "valid").shape == (None, 8, 8, 8)
    assert b.dense(x, 32).shape == (None, 17, 17, 32)


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_onnxruntime_agrees_with_the_definitions(opset):
    import onnxruntime as ort
    from netc.backends import ONNX
    for prim in [*MAKERS, *VARIANTS]:
        if prim is Prim.GELU and opset == 20 and ort.get_version_string() < "1.17":
            continue
        g, w = _graph(prim)
        x = _x()
        want = interp.run(g, w, {"x": x})["y"]
        model = ONNX.build(g, w, opset=opset)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feed = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        got = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
        if got.ndim == 4:
            got = got.transpose(0, 2, 3, 1)
        assert got.shape == want.shape, prim
        assert np.max(np.abs(got - want)) <= 2e-6 * max(1.0, np.max(np.abs(want))), (prim, opset)


def test_keras_layers_agree_with_the_definitions():
    """The Keras artifact is stock layers (LayerNormalization, SeparableConv2D, Cropping2D, Normalization,
    Activation("gelu")...): Keras's own arithmetic is the independent oracle of each definition."""
    pytest.importorskip("keras")
    from netc.backends import KERAS
    for prim in [*MAKERS, *VARIANTS]:
        if prim in LOWERING_ONLY:
            continue
        g, w = _graph(prim)
        x = _x()
        want = interp.run(g, w, {"x": x}, dtype=np.float64)["y"]
        model = KERAS.build(g, w)
        got = np.asarray(model(x, training=False))
        assert got.shape == want.shape, prim
        assert np.max(np.abs(got - want)) <= 2e-6 * max(1.0, np.max(np.abs(want))), prim
