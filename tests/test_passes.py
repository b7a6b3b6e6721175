"""Each IR pass against the interpreter: outputs before and after agree in float64 on small graphs; the
backends' tables plus the decompositions cover every primitive; the verifier names a broken node; rank-2
values run end to end."""
from __future__ import annotations

import numpy as np
import pytest

from netc.backends import BACKENDS, LOWERING_ONLY, ONNX
from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.decompose import RULES, decompose
from netc.ir.graph import Graph, Prim
from netc.ir.passes import DEPLOY, fold_batchnorm, fuse_branches, run_passes, strip_inference_identities
from netc.ir.verify import VerifyError, verify_graph
from netc.ir.weights import init_weights


def _graph(shape, make) -> tuple[Graph, dict]:
    b = Builder()
    x = b.input("x", shape)
    b.output("y", make(b, x))
    verify_graph(b.graph)
    # float64 weights: the passes then compute and store in float64, so a rewrite must be exact to 1e-12
    return b.graph, {k: v.astype(np.float64) for k, v in init_weights(b.graph, seed=11, randomize=True).items()}


def _agree(before: tuple[Graph, dict], after: tuple[Graph, dict], shape) -> float:
    """max|after - before| / max|before| in float64 on a normal input of ``shape`` (batch 2)."""
    x = np.random.default_rng(2).normal(size=(2, *shape[1:]))
    ref = interp.run(*before, {"x": x}, dtype=np.float64)["y"]
    got = interp.run(*after, {"x": x}, dtype=np.float64)["y"]
    assert got.shape == ref.shape
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


def _prims(g: Graph) -> list[str]:
    return [n.prim.value for n in g.nodes if n.prim is not Prim.INPUT]


def _repvgg(b: Builder, x, c: int, s: int, groups: int = 1, one_padding: str | None = None):
    """RepVGG's training form, lowered the way `rv` does (identity BN when shapes allow)."""
    identity = x.channels == c and s == 1
    branches = [b.batchnorm(x, "id_bn")] if identity else []
    for k, tag in ((3, "k3"), (1, "k1")):
        pad = "same" if k == 3 else (one_padding or ("same" if identity else "valid"))
        branches.append(b.batchnorm(b.conv(x, c, k, s, pad, groups=groups, name=f"{tag}_conv"), f"{tag}_bn"))
    return b.relu(b.add_n(branches), None, "act")


# ----------------------------------------------------------------------------- fold_batchnorm
def test_fold_batchnorm_conv_dense_and_se_gate():
    def make(b, x):
        y = b.batchnorm(b.conv(x, 6, 3, 2, "same", groups=2, bias=True), "bn1", epsilon=1.001e-5)
        y = b.relu(y, 6.0)
        s = b.global_avgpool(y, "pool")
        s = b.affine(b.conv(s, 6, 1, bias=True, name="excite"), 1.0, 3.0, "shift")
        s = b.affine(b.relu(s, 6.0, "r6"), 1.0 / 6.0, 0.0, "scale")
        y = b.mul(y, s)
        y = b.global_avgpool(y, "gap", keepdims=False)
        return b.batchnorm(b.dense(y, 5, name="fc"), "bn2")
    shape = (None, 8, 8, 4)
    g, w = _graph(shape, make)
    g2, w2 = fold_batchnorm(g, w)
    verify_graph(g2, w2)
    assert "batchnorm" not in _prims(g2) and "batchnorm" in _prims(g)
    assert _agree((g, w), (g2, w2), shape) < 1e-12


# ----------------------------------------------------------------------------- fuse_branches
@pytest.mark.parametrize("size,c,s,groups,one_padding", [
    (8, 4, 1, 1, None),        # identity BN + 3x3 + 1x1, stride 1: the 1x1 sits at the centre
    (8, 8, 2, 1, None),        # stride 2 on an even size: TF SAME pads (0, 1), the 1x1 samples the top-left
    (8, 8, 2, 1, "same"),      # the same with a SAME 1x1 (no padding either)
    (9, 8, 2, 1, None),        # stride 2 on an odd size: pads (1, 1), the 1x1 samples the centre
    (8, 4, 1, 2, None),        # grouped with identity
    (8, 8, 2, 4, None),        # grouped, stride 2, even size
])
def test_fuse_branches_is_exact(size, c, s, groups, one_padding):
    shape = (None, size, size, 4)
    g, w = _graph(shape, lambda b, x: _repvgg(b, x, c, s, groups, one_padding))
    g2, w2 = run_passes(g, w, DEPLOY)
    assert _prims(g2) == ["conv", "relu"]
    conv = g2.nodes[-2]
    assert conv.attrs["kernel_size"] == (3, 3) and conv.attrs["groups"] == groups and "bias" in conv.weights
    assert _agree((g, w), (g2, w2), shape) < 1e-12


def test_fuse_branches_alone_after_fold():
    shape = (None, 6, 6, 4)
    g, w = _graph(shape, lambda b, x: _repvgg(b, x, 4, 1))
    g1, w1 = fold_batchnorm(g, w)
    assert _prims(g1).count("add") == 1
    g2, w2 = fuse_branches(g1, w1)
    verify_graph(g2, w2)
    assert _prims(g2) == ["conv", "relu"]
    assert _agree((g1, w1), (g2, w2), shape) < 1e-12


def test_fuse_branches_leaves_dynamic_stride2_and_plain_residual_alone():
    """With a dynamic size the stride-2 pads are unknown: no fusion, still the same function; an add of
    a conv and a different tensor (a ResNet residual) is not a RepVGG block either."""
    shape = (None, None, None, 4)
    g, w = _graph(shape, lambda b, x: _repvgg(b, x, 8, 2))
    g2, w2 = run_passes(g, w, DEPLOY)
    assert _prims(g2).count("conv") == 2 and "add" in _prims(g2)
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 4))
    np.testing.assert_allclose(interp.run(g2, w2, {"x": x}, dtype=np.float64)["y"],
                               interp.run(g, w, {"x": x}, dtype=np.float64)["y"], rtol=1e-12, atol=1e-12)
    g, w = _graph((None, 6, 6, 4), lambda b, x: b.add(b.relu(x), b.conv(x, 4, 3)))
    g2, _ = fuse_branches(g, w)
    assert _prims(g2) == _prims(g)


# ----------------------------------------------------------------------------- strip_inference_identities
def test_strip_inference_identities():
    def make(b, x):
        y = b.dropout(b.conv(x, 4, 3), 0.3)
        y = b.affine(y, 1.0, 0.0, "noop")
        return b.affine(y, 2.0, 0.5, "real")
    shape = (None, 6, 6, 3)
    g, w = _graph(shape, make)
    g2, w2 = strip_inference_identities(g, w)
    verify_graph(g2, w2)
    assert _prims(g2) == ["conv", "affine"]
    assert _agree((g, w), (g2, w2), shape) == 0.0


# ----------------------------------------------------------------------------- decompose
@pytest.mark.parametrize("prim", sorted(RULES, key=lambda p: p.value))
def test_decompose_rules_compute_the_same_function(prim):
    shape = (None, 5, 5, 3)
    make = {Prim.HARDSWISH: lambda b, x: b.hardswish(b.conv(x, 3, 3)),
            Prim.SWISH: lambda b, x: b.swish(b.conv(x, 3, 3)),
            Prim.GELU: lambda b, x: b.gelu(b.conv(x, 3, 3)),
            Prim.LAYERNORM: lambda b, x: b.layernorm(b.conv(x, 4, 3), epsilon=1e-6),
            Prim.SEPCONV: lambda b, x: b.sepconv(x, 6, (3, 1), 2, bias=True)}[prim]
    g, w = _graph(shape, make)
    g2, w2 = decompose(g, w, frozenset({prim}))
    verify_graph(g2, w2)
    assert prim.value not in _prims(g2) and len(g2.nodes) > len(g.nodes)
    # hard-swish's 1/6, GELU's 1/sqrt 2 and LayerNorm's epsilon are float32 constants in the decompositions, as
    # ONNX carries them
    f32 = prim in (Prim.HARDSWISH, Prim.GELU, Prim.LAYERNORM)
    assert _agree((g, w), (g2, w2), shape) < (1e-7 if f32 else 1e-12)


# ----------------------------------------------------------------------------- coverage and verifier
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_covers_every_prim(name):
    backend = BACKENDS[name]
    options = [{"opset": o} for o in (11, 13, 17)] if name == "onnx" else [{}]
    for opt in options:
        missing = set(Prim) - backend.prims(**opt) - set(RULES) - LOWERING_ONLY
        assert not missing, (name, opt, missing)


def test_verifier_names_the_broken_node():
    g, w = _graph((None, 6, 6, 3), lambda b, x: b.relu(b.conv(x, 4, 3, name="broken_conv")))
    conv = next(n for n in g.nodes if n.prim is Prim.CONV)
    conv.out.shape = (None, 6, 6, 5)     # the kernel says 4 output channels
    with pytest.raises(VerifyError, match="broken_conv"):
        verify_graph(g, w)
    g, w = _graph((None, 6, 6, 3), lambda b, x: b.conv(x, 4, 3, name="c"))
    w[next(iter(w))] = np.zeros((1, 1))
    with pytest.raises(VerifyError, match="`c`"):
        verify_graph(g, w)


# ----------------------------------------------------------------------------- rank 2 end to end
def _rank2(b, x):
    y = b.dense(x, 12, name="fc1")
    y = b.batchnorm(y, "bn")
    y = b.dropout(b.relu(y), 0.5)
    y = b.prelu(b.dense(y, 7, name="fc2"), "prelu")
    return b.softmax(y)


def test_rank2_graph_on_onnxruntime_matches_interpreter():
    ort = pytest.importorskip("onnxruntime")
    g, w = _graph((None, 10), _rank2)
    model = ONNX.build(g, w)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(4).normal(size=(3, 10)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    ref = interp.run(g, w, {"x": x})["y"]
    assert got.shape == (3, 7)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_image_to_features_on_onnxruntime_matches_interpreter():
    ort = pytest.importorskip("onnxruntime")
    g, w = _graph((None, 6, 6, 3), lambda b, x: b.softmax(b.dense(b.flatten(b.conv(x, 4, 3, 2)), 5)))
    sess = ort.InferenceSession(ONNX.build(g, w).SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]
    np.testing.assert_allclose(got, interp.run(g, w, {"x": x})["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.tf
def test_rank2_graph_on_keras_matches_interpreter():
    pytest.importorskip("keras")
    from netc.backends import KERAS
    for shape, make in (((None, 10), _rank2),
                        ((None, 6, 6, 3), lambda b, x: b.softmax(b.dense(b.flatten(b.conv(x, 4, 3, 2)), 5)))):
        g, w = _graph(shape, make)
        model = KERAS.build(g, w)
        x = np.random.default_rng(4).normal(size=(2, *shape[1:])).astype(np.float32)
        got = np.asarray(model(x, training=False))
        np.testing.assert_allclose(got, interp.run(g, w, {"x": x})["y"], rtol=1e-5, atol=1e-6)
