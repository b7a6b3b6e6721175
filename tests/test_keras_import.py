"""Weights from Keras models: pairing by structure, the four sources, the located errors.

Each case is a spec and an independent Keras model of the same network written by hand here (stock layers,
auto-generated names, layers created in another order than they are connected), every weight drawn at random.
netc imports the saved model and must compute what the model computes: its ONNX (onnxruntime) and Keras
outputs are compared with the source model's own outputs. More (spec, Keras model) pairs slot into CASES.
"""
from __future__ import annotations

import pathlib
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.diagnostics import NetcError, render_error

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parent.parent
TOL = 1e-5           # max|diff| / max|ref|, float32 against float32 on a shallow net

# A spec using today's blocks: conv + BN + ReLU, an inverted residual with SE and hard-swish (residual add,
# SE multiply, depthwise), two branches of another width (conv with bias; conv + BN + per-channel PReLU),
# a concat, a bilinear upsampling, a VALID head.
BRANCHES_NET = """\
input img# 32x32x3
a#:
    select:img#
    cn_bn_r1_k3_s2_c16_nre
    ir_r1_k3_s1_e4_c16_se4_nhs
b#:
    select:a#
    cn_r1_k3_s1_c8_nre
c#:
    select:a#
    cn_bn_r1_k1_s1_c8_nprc
d#:
    select:b#:c#
    cnct:
    up_x2:
    hd_r1_k1_s1_c4
output d#
"""


def branches_model(variant: str = "ok"):
    """BRANCHES_NET written in Keras by hand; ``variant`` plants one structural difference."""
    import keras
    L = keras.layers
    # Layers are created in a scrambled order, so auto names (conv2d_3, ...) follow no graph order.
    made: dict[str, object] = {}
    recipes: dict[str, Callable[[], object]] = {
        "c_conv": lambda: L.Conv2D(8, 1, use_bias=False),
        "c_bn": lambda: L.BatchNormalization(epsilon=1e-3),
        "c_act": lambda: L.PReLU(shared_axes=[1, 2]),
        "head": lambda: L.Conv2D(4, 1, padding="valid", use_bias=False),
        "b_conv": lambda: L.Conv2D(12 if variant == "wide" else 8, 5 if variant == "k5" else 3, padding="same"),
        "stem": lambda: L.Conv2D(16, 3, strides=2, padding="same", use_bias=False),
        "stem_bn": lambda: L.BatchNormalization(epsilon=1e-3),
        "exp": lambda: L.Conv2D(64, 1, use_bias=False),
        "exp_bn": lambda: L.BatchNormalization(epsilon=1e-3),
        "dw": lambda: L.DepthwiseConv2D(3, padding="same", use_bias=False),
        "dw_bn": lambda: L.BatchNormalization(epsilon=1e-3),
        "sq": lambda: L.Conv2D(16, 1),
        "ex": lambda: L.Conv2D(64, 1),
        "proj": lambda: L.Conv2D(16, 1, use_bias=False),
        "proj_bn": lambda: L.BatchNormalization(epsilon=1e-3),
        "extra": lambda: L.Conv2D(8, 1, use_bias=False),
    }
    order = list(recipes)
    random.Random(5).shuffle(order)
    for k in order:
        made[k] = recipes[k]()
    x = keras.Input((32, 32, 3))
    y = L.ReLU()(made["stem_bn"](made["stem"](x)))
    r = y
    y = L.Activation("hard_swish")(made["exp_bn"](made["exp"](y)))
    y = L.Activation("hard_swish")(made["dw_bn"](made["dw"](y)))
    s = L.GlobalAveragePooling2D(keepdims=True)(y)
    s = L.ReLU()(made["sq"](s))
    s = made["ex"](s)
    s = L.ReLU(6.0)(L.Rescaling(1.0, 3.0)(s))
    s = L.Rescaling(0.16667)(s)
    y = L.Multiply()([y, s])
    y = made["proj_bn"](made["proj"](y))
    a = L.Add()([r, y])
    c = made["c_conv"](a)
    if variant != "missing_bn":
        c = made["c_bn"](c)
    c = made["c_act"](c)
    b = L.ReLU()(made["b_conv"](a))
    parts = [b, c] + ([made["extra"](a)] if variant == "extra_branch" else [])
    d = L.Concatenate()(parts)
    d = L.UpSampling2D(2, interpolation="bilinear")(d)
    model = keras.Model(x, made["head"](d))
    randomize(model)
    return model


def randomize(model, seed: int = 0) -> None:
    """Every variable drawn at random: kernels glorot-like, BN statistics and biases of order one."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for layer_ in getattr(layer, "layers", [layer]):
            values = []
            for v in layer_.weights:
                shape, name = tuple(v.shape), v.name
                if name == "moving_variance" or name == "gamma":
                    values.append(rng.uniform(0.5, 1.5, shape))
                elif name in ("moving_mean", "beta", "bias"):
                    values.append(rng.normal(0, 0.1, shape))
                elif name == "alpha":
                    values.append(rng.uniform(0.05, 0.3, shape))
                else:
                    fan = int(np.prod(shape[:-1])) or 1
                    values.append(rng.normal(0, 1 / np.sqrt(fan), shape))
            if values:
                layer_.set_weights([np.asarray(x, np.float32) for x in values])


def scrambled_netc_model(spec: str):
    """netc's own Keras model of ``spec`` (random weights), cloned with every layer renamed at random."""
    import keras
    m = netc.compile(spec, randomize=True, seed=11)
    src = m.to_keras()
    rng = random.Random(3)
    taken: set[str] = set()

    def rename(layer):
        cfg = layer.get_config()
        while True:
            name = f"l{rng.randrange(10**6)}"
            if name not in taken:
                taken.add(name)
                break
        cfg["name"] = name
        return layer.__class__.from_config(cfg)

    clone = keras.models.clone_model(src, clone_function=rename)
    clone.set_weights(src.get_weights())
    return clone


@dataclass(frozen=True)
class Case:
    id: str
    spec: str                          # spec text, or a path under the repository
    model: Callable[[], object]        # builds the source Keras model (weights set)

    def spec_path(self, tmp: pathlib.Path) -> str:
        if "\n" in self.spec:
            p = tmp / f"{self.id}.net"
            p.write_text(self.spec)
            return str(p)
        return str(ROOT / self.spec)


CASES = [
    Case("branches", BRANCHES_NET, branches_model),
    Case("mobilenet_v3_scrambled", "specs/mobilenet_v3.net", lambda: scrambled_netc_model(
        str(ROOT / "specs/mobilenet_v3.net"))),
    Case("openpose_scrambled", "specs/openpose.net", lambda: scrambled_netc_model(str(ROOT / "specs/openpose.net"))),
]


# ------------------------------------------------------------------ helpers
def run_onnx(model: netc.Model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    *_, y = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})
    return y.transpose(0, 2, 3, 1)


def norm_diff(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max())


def save(model, tmp: pathlib.Path, form: str) -> str:
    if form == "keras":
        p = tmp / "m.keras"
        model.save(p)
    elif form == "weights.h5":
        p = tmp / "m.weights.h5"
        model.save_weights(p)
    elif form == "h5":
        p = tmp / "m.h5"
        model.save(p)
    else:
        p = tmp / "sm"
        model.export(str(p), verbose=False)
    return str(p)


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


# ------------------------------------------------------------------ outputs equal the source's
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_import_reproduces_source_outputs(case: Case, tmp_path):
    src = case.model()
    spec = case.spec_path(tmp_path)
    path = save(src, tmp_path, "keras")
    model = netc.compile(spec, weights=path)
    shape = tuple(model.graph.inputs[0].shape[1:])
    x = np.random.default_rng(1).uniform(-1, 1, (2, *shape)).astype(np.float32)
    ref = src(x, training=False)
    ref = np.asarray(ref[-1] if isinstance(ref, (list, tuple)) else ref, np.float64)   # the last output
    assert np.abs(ref).max() > 0.1   # a live network, not one that outputs zeros
    onnx_d = norm_diff(run_onnx(model, x), ref)
    got = model.to_keras()(x, training=False)
    keras_d = norm_diff(np.asarray(got[-1] if isinstance(got, (list, tuple)) else got), ref)
    print(f"{case.id}: max|d|/max|ref| onnx {onnx_d:.2e}, keras {keras_d:.2e}")
    assert onnx_d < TOL and keras_d < TOL, (onnx_d, keras_d)


@pytest.mark.parametrize("form", ["weights.h5", "h5", "savedmodel"])
def test_other_sources_give_the_same_weights(form: str, tmp_path):
    """The legacy .h5 rebuilds the model (structure). The branches' two 64-wide and two 16-wide BNs are
    look-alikes in a weights-only .weights.h5, paired by their positions in `model.layers` (layer order), and
    in Keras 3's export (its BNs are decomposed in the signature's graph, so netc pairs its variables): refused
    there, then right once pinned by a map."""
    src = branches_model()
    spec = CASES[0].spec_path(tmp_path)
    keras_path = save(src, tmp_path, "keras")
    want = netc.compile(spec, weights=keras_path).weights
    path = save(src, tmp_path, form)
    weights_map = None
    if form == "savedmodel":
        with pytest.raises(NetcError) as err:
            netc.compile(spec, weights=path)
        msg = render_error(err.value)
        assert "look-alikes" in msg and "cannot be paired soundly" in msg and "--map" in msg, msg
        weights_map = str(tmp_path / "pins.yaml")
        pins = bn_pins(src, spec, keras_path, positional=False)
        import yaml
        (tmp_path / "pins.yaml").write_text(yaml.safe_dump(pins))
    model = netc.compile(spec, weights=path, weights_map=weights_map)
    if form == "weights.h5":
        note = next(w.message for w in model.checked.warnings if w.severity == "note")
        assert "layer order" in note, note
        # pins in the file's own names (class numbered in `model.layers`) agree with the order
        pins = bn_pins(src, spec, keras_path, positional=True)
        import yaml
        (tmp_path / "pins.yaml").write_text(yaml.safe_dump(pins))
        pinned = netc.compile(spec, weights=path, weights_map=str(tmp_path / "pins.yaml")).weights
        for name in want:
            np.testing.assert_array_equal(pinned[name], want[name], err_msg=name)
    got = model.weights
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def bn_pins(src, spec: str, keras_path: str, positional: bool) -> dict[str, str]:
    """Map entries for every BN: spec op -> the source layer's name in the file (the layer's own name, or in a
    Keras 3 .weights.h5 its class name numbered in `model.layers` order)."""
    from netc.compiler import check_spec
    from netc.weights.sources import pair_source
    own = pair_source(check_spec(spec), keras_path).mapping()
    by_own = {}
    count = 0
    for layer in src.layers:
        if type(layer).__name__ == "BatchNormalization":
            by_own[layer.name] = f"batch_normalization_{count}" if count else "batch_normalization"
            count += 1
    return {op: (by_own[name] if positional else name) for op, name in own.items() if name in by_own}


def test_netc_own_keras_model_round_trips_exactly(tmp_path):
    """Every weight of netc's own (renamed) Keras model comes back bit for bit."""
    spec = str(ROOT / "specs/mobilenet_v3.net")
    orig = netc.compile(spec, randomize=True, seed=11)
    path = save(scrambled_netc_model(spec), tmp_path, "keras")
    got = netc.compile(spec, weights=path).weights
    assert len(got) == 264
    for name, arr in orig.weights.items():
        np.testing.assert_array_equal(got[name], arr, err_msg=name)


# ------------------------------------------------------------------ CLI: match, map, export
def test_match_prints_the_pairing_and_writes_a_map(tmp_path, capsys):
    src = branches_model()
    spec = CASES[0].spec_path(tmp_path)
    path = save(src, tmp_path, "keras")
    code, out, err = cli(["weights", "match", spec, "--from", path, "--write-map", str(tmp_path / "map.yaml")],
                         capsys)
    assert code == 0, err
    dw = src.get_layer(next(layer.name for layer in src.layers if type(layer).__name__ == "DepthwiseConv2D"))
    line = next(ln for ln in out.splitlines() if "a/layer_1/depthwise_conv/depthwise_kernel" in ln)
    assert f"{dw.name} (DepthwiseConv2D)" in line and "(3, 3, 64, 1)" in line and line.split()[0] == "5"
    assert "15 layers paired by structure" in out
    import yaml
    mapping = yaml.safe_load((tmp_path / "map.yaml").read_text())
    assert mapping["a/layer_1/depthwise_conv"] == dw.name and len(mapping) == 15
    code, _, err = cli(["weights", "match", spec, "--from", path, "--map", str(tmp_path / "map.yaml")], capsys)
    assert code == 0, err


def test_export_then_rebuild_is_byte_identical(tmp_path, capsys):
    spec = CASES[0].spec_path(tmp_path)
    path = save(branches_model(), tmp_path, "keras")
    npz = str(tmp_path / "w.npz")
    assert cli(["weights", "export", spec, "--weights", path, "-o", npz], capsys)[0] == 0
    assert cli(["build", spec, "--weights", path, "-o", str(tmp_path / "a.onnx")], capsys)[0] == 0
    assert cli(["build", spec, "--weights", npz, "-o", str(tmp_path / "b.onnx")], capsys)[0] == 0
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_check_adds_the_source_model_as_a_column(tmp_path):
    from netc.check import run_check
    spec = CASES[0].spec_path(tmp_path)
    report = run_check(spec, weights=save(branches_model(), tmp_path, "keras"))
    assert "source model (tf)" in report["columns"] and report["ok"]
    worst = max(r["results"]["source model (tf)"]["norm"] for r in report["rows"])
    assert worst < TOL


def test_a_wrong_pin_is_refused(tmp_path, capsys):
    spec = CASES[0].spec_path(tmp_path)
    src = branches_model()
    path = save(src, tmp_path, "keras")
    dw = next(layer.name for layer in src.layers if type(layer).__name__ == "DepthwiseConv2D")
    (tmp_path / "map.yaml").write_text(f"a/layer_0/conv: {dw}\n")
    code, _, err = cli(["weights", "match", spec, "--from", path, "--map", str(tmp_path / "map.yaml")], capsys)
    assert code == 2 and "does not fit" in err and f"{dw}" in err and ":4:" in err


# ------------------------------------------------------------------ located errors
SPEC_LINE = {"b": 8, "c": 11, "d": 16}   # lines of BRANCHES_NET: b#'s conv, c#'s conv, the head


@pytest.mark.parametrize("variant, line, words", [
    ("missing_bn", SPEC_LINE["c"], ["batch norm", "PReLU", "missing on one side"]),
    ("wide", SPEC_LINE["b"], ["a different width: 8 output channels in the spec, 12 in the source", "Conv2D"]),
    ("k5", SPEC_LINE["b"], ["a different kernel size: 3x3 in the spec, 5x5 in the source", "Conv2D"]),
    ("extra_branch", SPEC_LINE["d"], ["extra branch", "Conv2D"]),
])
def test_mismatch_is_located(variant: str, line: int, words: list[str], tmp_path, capsys):
    spec = CASES[0].spec_path(tmp_path)
    src = branches_model(variant)
    path = save(src, tmp_path, "keras")
    code, out, err = cli(["weights", "match", spec, "--from", path], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{spec}:{line}:" in err, err
    for w in words:
        assert w in err, err
    # the message names a real source layer of the model
    assert any(f"`{layer.name}`" in err for layer in src.layers if layer.weights), err
    with pytest.raises(NetcError):
        netc.compile(spec, weights=path)


def test_symmetric_branches_need_a_map(tmp_path, capsys):
    """Two look-alike branches added together: structure cannot tell them apart, a map entry can."""
    import keras
    spec = tmp_path / "sym.net"
    spec.write_text("input img# 16x16x3\na#:\n    select:img#\n    cn_r1_k3_s1_c8_nre\n"
                    "b#:\n    select:img#\n    cn_r1_k3_s1_c8_nre\nc#:\n    select:a#:b#\n    cnct:\n"
                    "output c#\n")
    x = keras.Input((16, 16, 3))
    convs = [keras.layers.Conv2D(8, 3, padding="same") for _ in range(2)]
    model = keras.Model(x, keras.layers.Concatenate()([keras.layers.ReLU()(c(x)) for c in convs]))
    randomize(model)
    path = save(model, tmp_path, "keras")
    # concat order tells them apart: no map needed, and the first branch gets the first conv
    got = netc.compile(str(spec), weights=path).weights
    np.testing.assert_array_equal(got["a/layer_0/conv/kernel"], convs[0].kernel.numpy())
    # a multiply cannot (it is commutative): netc asks for a map entry, then obeys it
    spec.write_text(spec.read_text().replace("cnct:", "mul:"))
    x = keras.Input((16, 16, 3))
    convs = [keras.layers.Conv2D(8, 3, padding="same") for _ in range(2)]
    model = keras.Model(x, keras.layers.Multiply()([keras.layers.ReLU()(c(x)) for c in convs]))
    randomize(model, seed=2)
    path = save(model, tmp_path, "keras")
    code, _, err = cli(["weights", "match", str(spec), "--from", path], capsys)
    assert code == 2 and f"{spec}:4:" in err and "fits 2 source layers equally" in err, err
    assert any(f"a/layer_0/conv: {c.name}`" in err for c in convs), err
    (tmp_path / "map.yaml").write_text(f"a/layer_0/conv: {convs[1].name}\n")
    got = netc.compile(str(spec), weights=path, weights_map=str(tmp_path / "map.yaml")).weights
    np.testing.assert_array_equal(got["a/layer_0/conv/kernel"], convs[1].kernel.numpy())
    np.testing.assert_array_equal(got["b/layer_0/conv/kernel"], convs[0].kernel.numpy())
