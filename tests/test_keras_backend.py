"""Keras backend: IR -> stock-layer Keras model, saved/exported artifacts, and the tf2onnx route.

References: a small float64 numpy evaluator written here (independent of netc.ir.interp),
hand-computed values, and, where present, netc.ir.interp and the ONNX backend (onnxruntime).
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

from netc.diagnostics import NetcError
from netc.ir.builder import Builder
from netc.ir.graph import Graph, Node, Origin, Prim
from netc.ir.weights import init_weights

pytestmark = pytest.mark.tf

TOL = 1e-5


# ============================================================ numpy reference (float64)
def _same_pad(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _windows(node: Node, x: np.ndarray, fill: float):
    """Yield (i, j, strided view) for every kernel offset of a windowed op."""
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    if node.attrs["padding"] == "same":
        (pt, pb), (pl, pr) = _same_pad(x.shape[1], kh, sh), _same_pad(x.shape[2], kw, sw)
    else:
        pt = pb = pl = pr = 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]


def _ref_conv(node, xs, w):
    x, k = xs[0], w["kernel"]
    g = node.attrs.get("groups", 1)
    cin_g, cout = k.shape[2], k.shape[3]
    out = 0.0
    for i, j, patch in _windows(node, x, 0.0):
        p = patch.reshape(*patch.shape[:3], g, cin_g)
        kk = k[i, j].reshape(cin_g, g, cout // g)
        out = out + np.einsum("nhwgc,cgo->nhwgo", p, kk).reshape(*patch.shape[:3], cout)
    return out + w["bias"] if "bias" in w else out


def _ref_pool(node, xs, w):
    x = xs[0]
    if node.prim is Prim.MAXPOOL:
        return np.max([p for _, _, p in _windows(node, x, -np.inf)], axis=0)
    total = sum(p for _, _, p in _windows(node, x, 0.0))
    count = sum(p for _, _, p in _windows(node, np.ones_like(x[:1, ..., :1]), 0.0))
    return total / count


def _bilinear_axis(x: np.ndarray, axis: int, s: int) -> np.ndarray:
    """tf.image.resize bilinear with half-pixel centres along one axis."""
    n = x.shape[axis]
    src = np.maximum((np.arange(n * s) + 0.5) / s - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = (src - i0).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return np.take(x, i0, axis) * (1 - f) + np.take(x, i1, axis) * f


def _ref_resize(node, xs, w):
    x, (sh, sw) = xs[0], node.attrs["scale"]
    if node.attrs["mode"] == "nearest":
        return np.repeat(np.repeat(x, sh, 1), sw, 2)
    return _bilinear_axis(_bilinear_axis(x, 1, sh), 2, sw)


def _ref_bn(node, xs, w):
    eps = node.attrs["epsilon"]
    return (xs[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) * w["gamma"] + w["beta"]


def _ref_relu(node, xs, w):
    y = np.maximum(xs[0], 0.0)
    mv = node.attrs["max_value"]
    return y if mv is None else np.minimum(y, mv)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


REF = {
    Prim.CONV: _ref_conv,
    Prim.BATCHNORM: _ref_bn,
    Prim.RELU: _ref_relu,
    Prim.HARDSWISH: lambda n, xs, w: xs[0] * np.clip(xs[0] + 3, 0, 6) / 6,
    Prim.SWISH: lambda n, xs, w: xs[0] * _sig(xs[0]),
    Prim.SIGMOID: lambda n, xs, w: _sig(xs[0]),
    Prim.PRELU: lambda n, xs, w: np.where(xs[0] >= 0, xs[0], w["alpha"] * xs[0]),
    Prim.AFFINE: lambda n, xs, w: xs[0] * n.attrs["scale"] + n.attrs["offset"],
    Prim.ADD: lambda n, xs, w: xs[0] + xs[1],
    Prim.MUL: lambda n, xs, w: xs[0] * xs[1],
    Prim.CONCAT: lambda n, xs, w: np.concatenate(xs, axis=-1),
    Prim.RESIZE: _ref_resize,
    Prim.AVGPOOL: _ref_pool,
    Prim.MAXPOOL: _ref_pool,
    Prim.GLOBAL_AVGPOOL: lambda n, xs, w: xs[0].mean(axis=(1, 2), keepdims=True),
}


def ref_run(graph: Graph, weights: dict, inputs: dict) -> dict:
    env = {v.id: np.asarray(inputs[v.name], np.float64) for v in graph.inputs}
    for node in graph.nodes:
        if node.prim is Prim.INPUT:
            continue
        w = {k: np.asarray(weights[wt.name], np.float64) for k, wt in node.weights.items()}
        env[node.out.id] = REF[node.prim](node, [env[v.id] for v in node.inputs], w)
    return {name: env[v.id] for name, v in graph.outputs}


def rel_err(got, ref) -> float:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


def assert_close(got, ref, what: str = "") -> None:
    err = rel_err(got, ref)
    print(f"{what}: max|diff|/max|ref| = {err:.2e}")
    assert err <= TOL, f"{what}: relative error {err:.3e}"


def as_list(y) -> list[np.ndarray]:
    return [np.asarray(t.numpy() if hasattr(t, "numpy") else t) for t in (y if isinstance(y, (list, tuple)) else [y])]


# ============================================================ graphs
def _block(b: Builder, name: str) -> None:
    b.origin = Origin(None, "backbone", name, name)


def build_main() -> Graph:
    """Every prim except grouped conv (tf2onnx cannot convert it), odd sizes, stride 2, two outputs."""
    b = Builder("main")
    x = b.input("image", (None, 25, 25, 8))
    _block(b, "stem")
    a = b.hardswish(b.batchnorm(b.conv(x, 16, 3, stride=2)))                      # 13x13x16
    _block(b, "dw")
    d = b.relu(b.batchnorm(b.depthwise(a, 5, stride=2)), 6.0)                    # 7x7x16
    _block(b, "c3")
    with b.scope("se"):
        s = b.global_avgpool(d)
        s = b.relu(b.conv(s, 4, 1, bias=True, name="squeeze"))
        s = b.conv(s, 16, 1, bias=True, name="excite")
        s = b.affine(b.relu(b.affine(s, 1.0, 3.0), 6.0), 0.16667, 0.0, name="scale")
    d = b.mul(d, s)
    _block(b, "proj")
    p = b.relu(b.conv(d, 16, 1, bias=True), 6.0)
    p = b.prelu(p)                                                              # alpha (7,7,16)
    r = b.add(p, d)
    _block(b, "heads")
    q = b.sigmoid(b.prelu(r, name="prc", per_channel=True))
    c = b.swish(b.conv(r, 8, 3, bias=True, name="conv_b"))
    cat = b.concat([q, c])                                                      # 7x7x24
    up = b.resize(cat, 2, "bilinear")                                           # 14x14
    upn = b.resize(cat, 2, "nearest", name="resize_nn")
    m = b.pool("max", up, 3, 2, "valid", name="maxpool")                        # 6x6
    av = b.add(b.pool("avg", upn, 2, 2, "valid", name="avgpool"),
               b.pool("avg", up, 3, 2, "same", name="avgpool_same"))            # 7x7
    b.output("features", m)
    b.output("pooled", av)
    return b.graph


def build_grouped() -> Graph:
    b = Builder("grouped")
    x = b.input("x", (None, 9, 11, 8))
    y = b.relu(b.conv(x, 12, 3, stride=2, groups=4, bias=True))
    b.output("y", y)
    return b.graph


def build_dynamic() -> Graph:
    """Dynamic spatial size, two inputs, a (N,1,1,C) x (N,H,W,C) mul."""
    b = Builder("dynamic")
    x = b.input("x", (None, None, None, 3))
    g = b.input("gate", (None, 1, 1, 6))
    y = b.swish(b.conv(x, 6, 3, stride=2))
    y = b.mul(g, y)
    y = b.resize(y, 2, "bilinear")
    b.output("y", y)
    b.output("mean", b.global_avgpool(y))
    return b.graph


# ============================================================ fixtures
@pytest.fixture(scope="module")
def keras_mod():
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def main(keras_mod):
    from netc.backends.keras_backend import to_keras

    graph = build_main()
    weights = init_weights(graph, seed=7, randomize=True)
    x = np.random.default_rng(0).normal(size=(2, 25, 25, 8)).astype(np.float32)
    model = to_keras(graph, weights)
    return dict(graph=graph, weights=weights, x=x, model=model, out=as_list(model(x)),
                ref=ref_run(graph, weights, {"image": x}))


# ============================================================ tests
def test_module_import_does_not_import_tensorflow():
    code = ("import sys, netc.backends.keras_backend, netc.backends.tf2onnx_route; "
            "bad = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_matches_numpy_reference(main):
    graph, out, ref = main["graph"], main["out"], main["ref"]
    assert [o.shape for o in out] == [(2, 6, 6, 24), (2, 7, 7, 24)]
    for (name, _), got in zip(graph.outputs, out):
        assert_close(got, ref[name], f"keras vs numpy [{name}]")


def test_matches_interpreter(main):
    interp = pytest.importorskip("netc.ir.interp")
    got = interp.run(main["graph"], main["weights"], {"image": main["x"]})
    for (name, _), k in zip(main["graph"].outputs, main["out"]):
        assert_close(k, got[name], f"keras vs interp [{name}]")


def test_matches_onnx_backend(main):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("netc.backends.onnx")
    from netc.backends import ONNX
    proto = ONNX.build(main["graph"], main["weights"], io_layout="nhwc")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    res = sess.run([n for n, _ in main["graph"].outputs], {"image": main["x"]})
    for (name, _), k, o in zip(main["graph"].outputs, main["out"], res):
        assert_close(k, o, f"keras vs onnx backend [{name}]")


def test_layers_are_stock_named_and_weighted(main, keras_mod):
    model, graph = main["model"], main["graph"]
    layers = {layer.name: layer for layer in model.layers}
    for layer in model.layers:
        assert type(layer).__module__.startswith("keras."), type(layer)
        assert type(layer).__name__ in dir(keras_mod.layers) or type(layer).__name__ == "InputLayer"
        assert type(layer).__name__ != "Lambda" and "/" not in layer.name
    # one layer per node, plus an Identity per renamed output
    assert len(model.layers) == len(graph.nodes) + len(graph.outputs)
    assert model.output_names == ["features", "pooled"]
    assert model.inputs[0].name == "image"
    dw = layers["backbone.dw.depthwise_conv"]
    assert type(dw).__name__ == "DepthwiseConv2D" and dw.weights[0].shape == (5, 5, 16, 1)
    assert type(layers["backbone.stem.conv"]).__name__ == "Conv2D"
    assert layers["backbone.heads.prc"].weights[0].shape == (1, 1, 16)
    assert layers["backbone.proj.act_1"].weights[0].shape == (7, 7, 16)
    n_trainable = sum(w.size for w in graph.weights if w.trainable)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == n_trainable
    assert model.count_params() == graph.param_count()


def test_hand_computed_values(keras_mod):
    from netc.backends.keras_backend import to_keras

    b = Builder("tiny")
    x = b.input("x", (None, 3, 3, 1))
    b.output("conv", b.conv(x, 1, 3))
    b.output("up", b.resize(b.pool("avg", x, 2, 1, "valid"), 2, "bilinear"))
    g = b.graph
    w = {g.weights[0].name: np.ones((3, 3, 1, 1), np.float32)}
    xv = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    model = to_keras(g, w)
    assert model.output_names == ["conv", "up"]  # "conv" names its layer; "up" needs an Identity
    assert [type(layer).__name__ for layer in model.layers].count("Identity") == 1
    conv, up = as_list(model(xv))
    np.testing.assert_allclose(conv[0, :, :, 0], [[8, 15, 12], [21, 36, 27], [20, 33, 24]])
    # avgpool 2x2 of 0..8 -> [[2, 3], [5, 6]]; bilinear x2 half-pixel: first row [2, 2.25, 2.75, 3]
    np.testing.assert_allclose(up[0, 0, :, 0], [2, 2.25, 2.75, 3], rtol=0, atol=1e-6)
    np.testing.assert_allclose(up[0, :, 0, 0], [2, 2.75, 4.25, 5], rtol=0, atol=1e-6)


def test_grouped_conv(keras_mod):
    from netc.backends.keras_backend import to_keras
    from netc.backends.tf2onnx_route import keras_to_onnx

    graph = build_grouped()
    weights = init_weights(graph, seed=3, randomize=True)
    x = np.random.default_rng(1).normal(size=(2, 9, 11, 8)).astype(np.float32)
    model = to_keras(graph, weights)
    assert type(model.layers[1]).__name__ == "Conv2D" and model.layers[1].groups == 4
    assert_close(model(x), ref_run(graph, weights, {"x": x})["y"], "grouped conv")
    with pytest.raises(NetcError, match="tf2onnx could not convert"):
        keras_to_onnx(model)


def test_dynamic_shapes_and_two_inputs(keras_mod):
    from netc.backends.keras_backend import to_keras

    graph = build_dynamic()
    weights = init_weights(graph, seed=5, randomize=True)
    model = to_keras(graph, weights)
    assert tuple(model.inputs[0].shape) == (None, None, None, 3)
    rng = np.random.default_rng(2)
    for h, w in [(8, 8), (11, 7)]:
        x = rng.normal(size=(1, h, w, 3)).astype(np.float32)
        gate = rng.normal(size=(1, 1, 1, 6)).astype(np.float32)
        got = as_list(model([x, gate]))
        ref = ref_run(graph, weights, {"x": x, "gate": gate})
        assert got[0].shape == (1, 2 * -(-h // 2), 2 * -(-w // 2), 6)
        assert_close(got[0], ref["y"], f"dynamic {h}x{w} [y]")
        assert_close(got[1], ref["mean"], f"dynamic {h}x{w} [mean]")


def test_unsupported_prim_raises(monkeypatch, keras_mod):
    from netc.backends import keras_backend

    graph = build_grouped()
    monkeypatch.delitem(keras_backend.LAYERS, Prim.RELU)
    with pytest.raises(NetcError, match="the Keras backend cannot express Prim.RELU"):
        keras_backend.to_keras(graph, init_weights(graph))


def test_trainable_like_handwritten(main, keras_mod):
    from netc.backends.keras_backend import to_keras

    graph, weights, x = main["graph"], main["weights"], main["x"]
    model = to_keras(graph, weights)  # a fresh copy: training changes it
    bn = model.get_layer("backbone.stem.bn")
    assert bn.momentum == 0.99 and bn.epsilon == 1e-3
    mean0, k0 = bn.moving_mean.numpy().copy(), model.get_layer("backbone.stem.conv").kernel.numpy().copy()
    model.compile(optimizer="sgd", loss="mse")
    targets = [np.zeros_like(o) for o in main["out"]]
    loss = model.train_on_batch(x, targets)
    assert np.all(np.isfinite(loss))
    assert not np.allclose(model.get_layer("backbone.stem.conv").kernel.numpy(), k0)
    # one BN update: mean <- momentum * mean + (1 - momentum) * batch_mean
    assert np.abs(bn.moving_mean.numpy() - mean0).max() > 0
    assert np.abs(bn.moving_mean.numpy() - mean0).max() < 0.05


_ISOLATED = textwrap.dedent("""
    import sys
    sys.path.append(sys.argv[1])  # site-packages without its .pth files: no editable netc
    try:
        import netc
    except ImportError:
        pass
    else:
        sys.exit("netc is importable in the isolated process")
    import numpy as np, keras, tensorflow as tf
    x = np.load(sys.argv[2])
    model = keras.models.load_model(sys.argv[3])
    k = model(x)
    loaded = tf.saved_model.load(sys.argv[4])  # keep a reference: it owns the variables
    s = loaded.serve(tf.constant(x))
    k, s = (list(t) if isinstance(t, (list, tuple)) else [t] for t in (k, s))
    np.savez(sys.argv[5], **{f"k{i}": t.numpy() for i, t in enumerate(k)},
             **{f"s{i}": t.numpy() for i, t in enumerate(s)})
""")


@pytest.fixture(scope="module")
def isolated(main, tmp_path_factory):
    from netc.backends.keras_backend import export_savedmodel, save_keras

    d = tmp_path_factory.mktemp("artifacts")
    save_keras(main["model"], d / "m.keras")
    save_keras(main["model"], d / "m.keras")           # overwriting works
    export_savedmodel(main["model"], d / "saved")
    export_savedmodel(main["model"], d / "saved")      # replacing works
    np.save(d / "x.npy", main["x"])
    script = d / "run.py"
    script.write_text(_ISOLATED)
    args = [sys.executable, "-I", "-S", str(script), sysconfig.get_paths()["purelib"], str(d / "x.npy"),
            str(d / "m.keras"), str(d / "saved"), str(d / "out.npz")]
    proc = subprocess.run(args, cwd=d, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, dict(np.load(d / "out.npz"))


def test_artifacts_written_atomically(isolated):
    d, _ = isolated
    assert sorted(p.name for p in d.iterdir()) == ["m.keras", "out.npz", "run.py", "saved", "x.npy"]
    assert (d / "saved" / "saved_model.pb").is_file()


def test_keras_file_loads_without_netc(main, isolated):
    _, res = isolated
    for i, got in enumerate(main["out"]):
        assert_close(res[f"k{i}"], got, f".keras reload [{i}]")


def test_savedmodel_loads_without_netc(main, isolated):
    _, res = isolated
    outs = sorted(k for k in res if k.startswith("s"))
    assert len(outs) == len(main["out"])
    for i, got in enumerate(main["out"]):
        assert_close(res[f"s{i}"], got, f"SavedModel [{i}]")


def test_tf2onnx_route(main):
    ort = pytest.importorskip("onnxruntime")
    from netc.backends.tf2onnx_route import keras_to_onnx

    proto = keras_to_onnx(main["model"], opset=17)
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["features", "pooled"]
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim0.HasField("dim_value")  # dynamic batch
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    res = sess.run(None, {"image": main["x"]})
    for (name, _), k, o in zip(main["graph"].outputs, main["out"], res):
        assert_close(o, k, f"tf2onnx vs keras [{name}]")
        assert_close(o, main["ref"][name], f"tf2onnx vs numpy [{name}]")


def test_tf2onnx_opset_limits(main):
    from netc.backends.tf2onnx_route import keras_to_onnx

    with pytest.raises(NetcError, match="opsets 9 to 18"):
        keras_to_onnx(main["model"], opset=19)
