"""TF Model Garden's own SpineNet-49 (official.vision, tf_keras), saved in every format its users hold, imported.

The reference is built in its own process by tests/refmodels/modelgarden_formats.py from the installed
tf-models-official (`pip install --no-deps`, as the Makefile does; or NETC_TF_MODELS_PATH), with calibrated
random weights, at 256 px (about a minute on 2 cores; at 128 px two thirds of it was tf_keras tracing its two
SavedModels, which does not grow with the size), and saved as a tf_keras SavedModel (with and without traces), TF
checkpoints (`save_weights`, `Checkpoint(model=...)`, `Checkpoint(backbone=...)`, a detector's trainer
checkpoint), legacy HDF5 weights, a legacy whole-model .h5 whose SpineNet class Keras 3 cannot rebuild, and
tf_keras's `.weights.h5`. Oracles: the Model Garden model's own float32 outputs and its
float64 twin (the noise), and each file's own arrays. Each format is compiled once per session (module
fixtures); one ONNX and one Keras artifact check the outputs, the arrays of every other format being equal.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.diagnostics import NetcError, render_error

pytestmark = [pytest.mark.slow, pytest.mark.tf]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZE = 256
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
    """Each format compiled once (a SavedModel's loading dominates), shared by the tests below; the SavedModel
    opened once for both its arrays and its pairing table (``match``)."""
    from netc.compiler import Model, check_spec
    from netc.weights.keras_match import format_pairing, load_paired, match
    from netc.weights.keras_source import open_source
    checked = check_spec(mg["spec"])
    src = open_source(str(mg["dir"] / "savedmodel"))
    out = {"savedmodel table": format_pairing(match(checked, src))}
    out["savedmodel"] = Model(checked, load_paired(checked, src))
    for name in FORMATS:
        if name != "savedmodel":
            out[name] = netc.compile(mg["spec"], weights=str(mg["dir"] / name))
    return out


def _open_look_alikes(err: NetcError) -> list[tuple[str, list[str]]]:
    """(spec op, candidate file layers) from the notes of a refusal that leaves look-alikes open."""
    out = []
    for note in err.diagnostics[0].notes:
        m = re.match(r"`(\S+)` \(.*\) is one of (.*)$", note)
        if m:
            out.append((m.group(1), re.findall(r"`([^`]+)`", m.group(2))))
    return out


@pytest.fixture(scope="module")
def weights_h5(mg, compiled, tmp_path_factory):
    """The .weights.h5 pinned where its order leaves look-alikes open: each pin the candidate holding the array the
    SavedModel (paired by structure) gives that op. Returns (the refusal without pins, the pins file, the model)."""
    import h5py
    path = str(mg["dir"] / "m.weights.h5")
    want = compiled["savedmodel"].weights
    pins = tmp_path_factory.mktemp("pins") / "pins.yaml"
    chosen: dict[str, str] = {}
    first = None
    for _ in range(8):
        try:
            model = netc.compile(mg["spec"], weights=path, weights_map=str(pins) if chosen else None)
            return first, pins, model
        except NetcError as err:
            first = first or err
            op, cands = _open_look_alikes(err)[0]
            kernel = want[f"{op}/kernel" if op.endswith("conv") else f"{op}/moving_mean"]
            with h5py.File(path, "r") as f:
                hits = [c for c in cands
                        if np.array_equal(np.asarray(f["layers"][c]["vars"]["0" if op.endswith("conv") else "2"]),
                                          kernel)]
            assert len(hits) == 1, (op, cands)
            chosen[op] = hits[0]
            pins.write_text("".join(f"{k}: {v}\n" for k, v in chosen.items()))
    raise AssertionError(f"still open after pins {chosen}")


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


def test_match_names_the_evidence_and_the_savedmodel_pairs_by_structure(mg, compiled, capsys):
    out = compiled["savedmodel table"]   # what `netc weights match` prints
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


def test_tf_keras_weights_h5_pairs_by_layer_order_and_names_what_it_leaves_open(mg, compiled, weights_h5, capsys):
    """tf_keras's .weights.h5 numbers its layers by position in `model.layers` (depths counted in the source's
    layers, weightless ones included: a `tf.identity` after each block, an upsampling as reshape/tile/shape) and
    names a block's sublayers by attribute (`_conv1`, `_shortcut`). netc pairs what that order settles whatever
    the weightless layers are, sublayers by their shapes across all blocks of a class and the number their names
    share, and refuses the few look-alikes it leaves open, naming them and the pins that settle them."""
    first, pins, model = weights_h5
    assert first is not None, "the file's order was expected to leave some look-alikes open"
    msg = render_error(first)
    assert "()" not in msg.split("\n")[0], msg
    assert "look-alikes open" in msg and "--map" in msg, msg
    n_pins = len(pins.read_text().splitlines())
    assert 1 <= n_pins <= 4, pins.read_text()
    want = compiled["savedmodel"].weights
    for k in want:
        np.testing.assert_array_equal(model.weights[k], want[k], err_msg=k)
    note = next(w.message for w in model.checked.warnings if w.severity == "note")
    assert note.startswith(".weights.h5 file") and "260 layers paired by" in note and "layer order" in note, note
    code, out, err = _cli(["weights", "match", mg["spec"], "--from", str(mg["dir"] / "m.weights.h5"),
                           "--map", str(pins)], capsys)
    assert code == 0, err
    rows = [ln for ln in out.splitlines()[4:] if ln.strip()]
    by = [r.split()[-1] for r in rows]
    assert len(rows) == 650 and set(by) <= {"order", "shapes", "names", "map"} and "order" in by, set(by)
