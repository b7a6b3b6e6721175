"""Issue 11's acceptance: netc, given a spec and a saved reference model, reproduces the reference's outputs.

The references are tests/refmodels' models (keras.applications MobileNetV2 1.4, MobileNetV3-Large,
ResNet50; seed 004's RepVGG-A0; the SpineNet-49 reference), every weight drawn at random and each BN
calibrated to its input. A reference's own float32 rounding is its *noise*: max|f32 - f64| / max|f64| of the
same weights run in float32 and in float64 (refmodels.precision). netc's ONNX artifact (onnxruntime, CPU) and
its Keras artifact must reproduce the reference's float32 outputs within 3x that noise, and for the
classifiers never looser than 1e-4. Measured figures: docs/weights.md ("Reference models imported").
The classifiers run at 96 px (the session store), SpineNet-49 at 256 px (docs/spinenet.md).
"""
from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import netc
from netc.diagnostics import NetcError, render_error
from netc.cli import main
from refmodels import repvgg, spinenet
from refmodels.models import in_dtype
from refmodels.precision import input_cases, normalised_diff

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZE = 96            # the classifiers (refmodel_store's size)
SPINE_SIZE = 256     # SpineNet-49: at 128 its level-7 map is 1x1 and calibration is rough
FLOOR = 1e-4         # the classifiers' tolerance is never below this
CLASSIFIERS = ["mobilenet_v2_140", "mobilenet_v3_large", "resnet50", "repvgg_a0"]


def tolerance(noise: float, floor: float = 0.0) -> float:
    return max(floor, 3 * noise)


def resized_spec(name: str, size: int, tmp: pathlib.Path, full: str = "224x224x3") -> str:
    """specs/<name>.net with its input size changed (the only edit)."""
    text = (ROOT / "specs" / f"{name}.net").read_text()
    assert text.count(full) == 1, name
    p = tmp / f"{name}_{size}.net"
    p.write_text(text.replace(full, f"{size}x{size}x3"))
    return str(p)


def run_onnx(proto, x: np.ndarray) -> list[np.ndarray]:
    """Every output of an NCHW-io ONNX model, as NHWC (rank-2 outputs as they are)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32).transpose(0, 3, 1, 2)})
    return [o.transpose(0, 2, 3, 1) if o.ndim == 4 else o for o in outs]


def run_keras(model, x: np.ndarray) -> list[np.ndarray]:
    out = model(x.astype(np.float32), training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


# ------------------------------------------------------------------ the classifiers
class Classifier:
    """One reference classifier: its saved files, its float32 outputs and its noise per input case."""

    def __init__(self, name: str, store, tmp: pathlib.Path):
        self.name = name
        self.entry = store.get(name)
        self.spec = resized_spec(name, SIZE, tmp)
        self.cases = [(case, x.astype(np.float32)) for case, x in input_cases(SIZE)]
        self.ref = {case: run_keras(self.entry.model, x) for case, x in self.cases}
        twin = in_dtype(self.entry.model, name, "float64")
        self.noise = {case: normalised_diff(self.ref[case][0], np.asarray(twin(x.astype(np.float64),
                                                                               training=False)))
                      for case, x in self.cases}
        self.tol = tolerance(max(self.noise.values()), FLOOR)

    def source(self, form: str) -> str:
        return str(self.entry.files.keras if form == "keras" else self.entry.files.weights_h5)

    def diffs(self, onnx_proto, keras_model, ref=None) -> dict[str, tuple[float, float]]:
        """Per input case, (ONNX, Keras) max|netc - ref| / max|ref| (ref: the reference's float32 outputs)."""
        ref = ref or self.ref
        out = {}
        for case, x in self.cases:
            want = ref[case][0]
            out[case] = (normalised_diff(run_onnx(onnx_proto, x)[-1].reshape(want.shape), want),
                         normalised_diff(run_keras(keras_model, x)[-1].reshape(want.shape), want))
        return out


@pytest.fixture(scope="module")
def classifiers(refmodel_store, tmp_path_factory):
    made: dict[str, Classifier] = {}
    tmp = tmp_path_factory.mktemp("specs")

    def get(name: str) -> Classifier:
        if name not in made:
            made[name] = Classifier(name, refmodel_store, tmp)
        return made[name]
    return get


def test_classifier_specs_accept_a_small_input(tmp_path):
    """The classifier specs compile at 96 px with the counts they have at 224 (only feature-map sizes change)."""
    for name in CLASSIFIERS:
        full = netc.compile(str(ROOT / "specs" / f"{name}.net"))
        small = netc.compile(resized_spec(name, SIZE, tmp_path))
        assert small.checked.params == full.checked.params, name
        assert {k: v.shape for k, v in small.weights.items()} == {k: v.shape for k, v in full.weights.items()}


@pytest.mark.parametrize("form", ["keras"])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_reproduces_the_reference(name: str, form: str, classifiers):
    c = classifiers(name)
    model = netc.compile(c.spec, weights=c.source(form))
    diffs = c.diffs(model.to_onnx(), model.to_keras())
    noise = max(c.noise.values())
    worst = max(max(d) for d in diffs.values())
    print(f"{name} from .{form}: noise {noise:.2e}, tol {c.tol:.2e}, "
          + ", ".join(f"{case}: onnx {o:.2e} keras {k:.2e}" for case, (o, k) in diffs.items()))
    assert 0 < noise < 1e-4, c.noise   # the reference is a live network with float32 rounding of its own
    assert worst <= c.tol, (diffs, c.tol)
    # every weight came from the source: netc's Keras model equals the reference up to float32 noise
    for case, (_, k) in diffs.items():
        assert k <= tolerance(c.noise[case], 1e-6), (case, k, c.noise[case])


def test_weights_h5_pairs_by_layer_order(classifiers):
    """A Keras 3 .weights.h5 numbers its layers by their position in `model.layers`; MobileNetV3's look-alikes
    stand there in an order its weightless layers cannot change (one feeds the other, or both feed the same
    op), so netc pairs them by layer order: the same arrays as the .keras paired by structure."""
    c = classifiers("mobilenet_v3_large")
    want = netc.compile(c.spec, weights=c.source("keras")).weights
    model = netc.compile(c.spec, weights=c.source("weights.h5"))
    note = next(w.message for w in model.checked.warnings if w.severity == "note")
    assert "layer order" in note, note
    for k in want:
        np.testing.assert_array_equal(model.weights[k], want[k], err_msg=k)


def test_cli_check_with_the_source_model_as_a_column(classifiers, capsys):
    c = classifiers("mobilenet_v3_large")
    with pytest.raises(SystemExit) as exc:
        main(["check", c.spec, "--weights", c.source("keras")])
    out = capsys.readouterr()
    assert exc.value.code == 0, out.out + out.err
    assert "source model (tf)" in out.out


# ------------------------------------------------------------------ SpineNet-49
@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spinenet")
    ref = spinenet.reference("49", SPINE_SIZE)
    ref.save(tmp / "spinenet49.keras")
    ref.save_weights(tmp / "spinenet49.weights.h5")
    x = np.random.default_rng(7).standard_normal((2, SPINE_SIZE, SPINE_SIZE, 3)).astype(np.float32)
    y32 = run_keras(ref, x)
    twin = spinenet.float64_twin(ref, "49", SPINE_SIZE)
    y64 = run_keras_f64(twin, x)
    spec = resized_spec("spinenet49", SPINE_SIZE, tmp, full="640x640x3")
    return dict(model=ref, dir=tmp, x=x, y32=y32, noise=spinenet.normalised_diff(y64, y32), spec=spec)


def run_keras_f64(model, x):
    return [np.asarray(o) for o in model(x.astype(np.float64), training=False)]


def test_spinenet49_reproduces_the_reference(spine):
    model = netc.compile(spine["spec"], weights=str(spine["dir"] / "spinenet49.keras"))
    onnx_out = run_onnx(model.to_onnx(), spine["x"])
    keras_out = run_keras(model.to_keras(), spine["x"])
    d_onnx = spinenet.normalised_diff(spine["y32"], onnx_out)
    d_keras = spinenet.normalised_diff(spine["y32"], keras_out)
    noise = spine["noise"]
    print(f"spinenet49 at {SPINE_SIZE} px from .keras: noise {noise:.2e}, onnx {d_onnx:.2e}, keras {d_keras:.2e}")
    assert [o.shape for o in onnx_out] == [o.shape for o in spine["y32"]]
    assert 1e-6 < noise < 3e-3, noise
    assert d_onnx <= 3 * noise and d_keras <= 3 * noise, (d_onnx, d_keras, noise)


def test_spinenet49_weights_match_prints_the_full_pairing(spine, capsys):
    src = spine["model"]
    weighted = {layer.name: type(layer).__name__ for layer in src.layers if layer.weights}
    with pytest.raises(SystemExit) as exc:
        main(["weights", "match", spine["spec"], "--from", str(spine["dir"] / "spinenet49.keras")])
    out = capsys.readouterr()
    assert exc.value.code == 0, out.err
    assert f"{len(weighted)} layers paired by structure" in out.out
    paired = set(re.findall(r"\s(\S+) \((Conv2D|BatchNormalization)\)\s", out.out))
    assert paired == set(weighted.items())


def test_spinenet49_from_weights_h5_pairs_by_layer_order(spine):
    """A Keras 3 .weights.h5 has no graph and numbers its layers by class and position in `model.layers`:
    SpineNet's 253 look-alike layers (same class, same shapes) pair by that order, reproduced from the spec's
    graph, where every count of the source's weightless layers per kind of op that reproduces the file's order
    gives the same pairing (pairing in the spec's order once swapped 115 of its 260 layers without an error):
    the same arrays as the .keras paired by structure."""
    want = netc.compile(spine["spec"], weights=str(spine["dir"] / "spinenet49.keras")).weights
    model = netc.compile(spine["spec"], weights=str(spine["dir"] / "spinenet49.weights.h5"))
    note = next(w.message for w in model.checked.warnings if w.severity == "note")
    assert "260 layers paired by" in note and "layer order" in note, note
    for k in want:
        np.testing.assert_array_equal(model.weights[k], want[k], err_msg=k)
