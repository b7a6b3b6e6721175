"""TF Model Garden's own SpineNet-49 (official.vision, tf_keras), saved in every format its users hold, imported.

The reference is built in its own process by tests/refmodels/modelgarden_formats.py from the installed
tf-models-official (`pip install --no-deps`, as the Makefile does; or NETC_TF_MODELS_PATH), with calibrated
random weights, at 128 px (SpineNet's smallest size with a 1x1 level 7), and saved as a tf_keras SavedModel (with and without traces), TF checkpoints
(`save_weights`, `Checkpoint(model=...)`, `Checkpoint(backbone=...)`, a detector's trainer checkpoint), legacy
HDF5 weights and a legacy whole-model .h5 whose SpineNet class Keras 3 cannot rebuild. Oracles: the Model
Garden model's own float32 outputs and its float64 twin (the noise), and each file's own arrays.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.diagnostics import NetcError, render_error

pytestmark = [pytest.mark.slow, pytest.mark.tf]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZE = 128
FORMATS = {   # file -> what netc must say it recognised
    "savedmodel": "SavedModel",
    "savedmodel_notraces": "SavedModel",
    "tf_weights/ckpt": "TF2 object-based checkpoint",
    "ckpt_model/ckpt": "TF2 object-based checkpoint",
    "ckpt_backbone/ckpt": "TF2 object-based checkpoint",
    "ckpt_detector/ckpt": "TF2 object-based checkpoint",
    "legacy_weights.h5": "legacy Keras 2 HDF5 weights file",
    "legacy_model.h5": "legacy Keras 2 HDF5 model file",
}


def _tf_models_path() -> str | None:
    if os.environ.get("NETC_TF_MODELS_PATH"):
        return os.environ["NETC_TF_MODELS_PATH"]
    spec = importlib.util.find_spec("official")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(pathlib.Path(list(spec.submodule_search_locations)[0]).parent)


@pytest.fixture(scope="module")
def mg(tmp_path_factory):
    tfm = _tf_models_path()
    if tfm is None or importlib.util.find_spec("tf_keras") is None:
        pytest.skip("needs tf-keras and tf-models-official (`pip install --no-deps`, see the Makefile)")
    out = tmp_path_factory.mktemp("modelgarden")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    script = ROOT / "tests" / "refmodels" / "modelgarden_formats.py"
    subprocess.run([sys.executable, str(script), tfm, str(SIZE), str(out)], env=env, check=True,
                   capture_output=True, timeout=1500)
    spec = out / "spinenet49.net"
    text = (ROOT / "specs" / "spinenet49.net").read_text()
    assert text.count("640x640x3") == 1
    spec.write_text(text.replace("640x640x3", f"{SIZE}x{SIZE}x3"))
    y32, y64 = np.load(out / "y32.npz"), np.load(out / "y64.npz")
    levels = sorted(y32.files, key=int)
    ref = [y32[k] for k in levels]
    noise = _diff(ref, [y64[k] for k in levels])
    return dict(dir=out, spec=str(spec), x=np.load(out / "x.npy"), ref=ref, noise=noise)


def _diff(got, ref) -> float:
    return max(float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()) for a, b in zip(got, ref))


@pytest.fixture(scope="module")
def compiled(mg):
    """Each format compiled once (a SavedModel's loading dominates), shared by the tests below."""
    return {name: netc.compile(mg["spec"], weights=str(mg["dir"] / name)) for name in FORMATS}


def test_every_format_gives_the_same_arrays(mg, compiled):
    """Each format's 650 variables land on the same spec weights (the SavedModel by structure, the others by
    shapes and recorded creation order); equal arrays mean equal artifacts, checked below once."""
    want = compiled["savedmodel"].weights
    assert len(want) == 650
    for name, kind in FORMATS.items():
        model = compiled[name]
        note = next(w.message for w in model.checked.warnings if w.severity == "note")
        assert note.startswith(kind) and "260 layers paired by" in note, (name, note)
        for k in want:
            np.testing.assert_array_equal(model.weights[k], want[k], err_msg=f"{name}: {k}")


def test_outputs_reproduce_model_garden(mg, compiled):
    model = compiled["ckpt_detector/ckpt"]
    import onnxruntime as ort
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_out = [o.transpose(0, 2, 3, 1) for o in sess.run(None, {sess.get_inputs()[0].name:
                                                                 mg["x"].transpose(0, 3, 1, 2)})]
    keras_out = [np.asarray(o) for o in model.to_keras()(mg["x"], training=False)]
    d_onnx, d_keras = _diff(onnx_out, mg["ref"]), _diff(keras_out, mg["ref"])
    print(f"Model Garden SpineNet-49 at {SIZE} px: noise {mg['noise']:.2e}, onnx {d_onnx:.2e}, "
          f"keras {d_keras:.2e}")
    assert 1e-6 < mg["noise"] < 1e-2
    assert d_onnx <= 3 * mg["noise"] and d_keras <= 3 * mg["noise"], (d_onnx, d_keras, mg["noise"])


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_match_names_the_evidence_and_the_savedmodel_pairs_by_structure(mg, capsys):
    code, out, err = _cli(["weights", "match", mg["spec"], "--from", str(mg["dir"] / "savedmodel")], capsys)
    assert code == 0, err
    assert "SavedModel" in out and "260 layers paired by structure" in out
    rows = [ln for ln in out.splitlines()[4:] if ln.strip()]
    assert len(rows) == 650 and all(r.split()[-1] == "structure" for r in rows)
    code, out, err = _cli(["weights", "match", mg["spec"], "--from", str(mg["dir"] / "legacy_weights.h5")], capsys)
    assert code == 0, err
    rows = [ln for ln in out.splitlines()[4:] if ln.strip()]
    assert len(rows) == 650 and {r.split()[-1] for r in rows} <= {"order", "shapes"}   # the "by" column
    assert "creation order" in out


def test_detector_checkpoint_by_subtree_and_automatically(mg, compiled, capsys):
    path = str(mg["dir"] / "ckpt_detector" / "ckpt")
    auto = compiled["ckpt_detector/ckpt"]
    assert any("subtree `model/backbone`" in w.message for w in auto.checked.warnings)
    named = netc.compile(mg["spec"], weights=path, weights_subtree="backbone").weights
    for k, v in auto.weights.items():
        np.testing.assert_array_equal(named[k], v, err_msg=k)
    with pytest.raises(NetcError) as err:
        netc.compile(mg["spec"], weights=path, weights_subtree="neck")
    assert "has no subtree `neck`" in render_error(err.value) and "`model`" in render_error(err.value)
    code, _, err = _cli(["weights", "match", mg["spec"], "--from", path, "--subtree", "head"], capsys)
    assert code == 2 and "Traceback" not in err


def test_tf_keras_weights_h5_is_refused_not_guessed(mg):
    """tf_keras's .weights.h5 numbers its layers by position in `model.layers` and names a block's sublayers by
    attribute (`_conv1`, `_shortcut`). That position is set by depths that count the source's weightless layers
    (a `tf.identity` after each block, an upsampling as reshape/tile/shape), which the spec does not have: the
    two reduce convs of one fuse feed different ops, so their order is no evidence, and netc refuses."""
    with pytest.raises(NetcError) as err:
        netc.compile(mg["spec"], weights=str(mg["dir"] / "m.weights.h5"))
    msg = render_error(err.value)
    assert "()" not in msg.split("\n")[0], msg
    assert "positions in `model.layers` are no evidence here" in msg and "neither feeds the other" in msg, msg
