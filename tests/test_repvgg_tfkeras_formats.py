"""RepVGG-A0 as seed 004's TF 2 code builds it (tf_keras, auto-named stock layers), saved in every format a
tf_keras user holds, imported; netc's ONNX and Keras artifacts, training form and `--deploy`, against the
source model's own outputs.

The reference is built in its own process by tests/refmodels/repvgg_tfkeras_formats.py at 96 px with calibrated
random weights. Oracles: the tf_keras model's float32 logits and its float64 twin's (the noise), each file's
own arrays (every format must give the same 106 layers' arrays).
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

pytestmark = [pytest.mark.slow, pytest.mark.tf]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZE = 96
FORMATS = {   # file -> (what netc must say it recognised, the evidence it must name)
    "savedmodel": ("SavedModel", "structure"),
    "legacy_model.h5": ("legacy Keras .h5 model", "structure"),
    "m.weights.h5": (".weights.h5 file", "layer order"),
    "legacy_weights.h5": ("legacy Keras 2 HDF5 weights file", "creation order"),
    "tf_weights/ckpt": ("TF2 object-based checkpoint", "creation order"),
    "ckpt_model/ckpt": ("TF2 object-based checkpoint", "creation order"),
}


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("needs tf-keras (`pip install --no-deps tf-keras==2.21.0`, see the Makefile)")
    out = tmp_path_factory.mktemp("repvgg_tfkeras")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, str(ROOT / "tests" / "refmodels" / "repvgg_tfkeras_formats.py"), str(SIZE),
                    str(out)], env=env, check=True, capture_output=True, timeout=900)
    text = (ROOT / "specs" / "repvgg_a0.net").read_text()
    assert text.count("224x224x3") == 1
    spec = out / "repvgg_a0.net"
    spec.write_text(text.replace("224x224x3", f"{SIZE}x{SIZE}x3"))
    y32, y64 = np.load(out / "y32.npy"), np.load(out / "y64.npy")
    return dict(dir=out, spec=str(spec), x=np.load(out / "x.npy"), ref=y32, noise=_diff(y32, y64))


def _diff(got, ref) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


def test_every_format_gives_the_same_arrays(rv):
    models = {}
    for name, (kind, evidence) in FORMATS.items():
        models[name] = netc.compile(rv["spec"], weights=str(rv["dir"] / name))
        note = next(w.message for w in models[name].checked.warnings if w.severity == "note")
        assert note.startswith(kind) and "106 layers paired by" in note and evidence in note, (name, note)
    want = models["savedmodel"].weights
    n_bn = sum(1 for k in want if k.endswith("/moving_variance"))
    # 22 blocks of two conv-BNs, identity BNs in 1 + 3 + 13 of them (stages 1-3 after their first), the Dense
    assert n_bn == 22 * 2 + 17 and len(want) == 4 * n_bn + 22 * 2 + 2
    for name, model in models.items():
        assert model.weights.keys() == want.keys(), name
        for k in want:
            np.testing.assert_array_equal(model.weights[k], want[k], err_msg=f"{name}: {k}")


def _onnx(model, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]


def test_training_and_deploy_forms_reproduce_the_seed_model(rv):
    """From the .weights.h5 (paired by layer order): both artifacts, training form and re-parameterised."""
    model = netc.compile(rv["spec"], weights=str(rv["dir"] / "m.weights.h5"))
    x, ref, noise = rv["x"], rv["ref"], rv["noise"]
    d = {"onnx": _diff(_onnx(model.to_onnx(), x), ref),
         "keras": _diff(np.asarray(model.to_keras()(x, training=False)), ref),
         "onnx deploy": _diff(_onnx(model.to_onnx(deploy=True), x), ref),
         "keras deploy": _diff(np.asarray(model.to_keras(deploy=True)(x, training=False)), ref)}
    print(f"RepVGG-A0 (tf_keras, seed 004) at {SIZE} px: noise {noise:.2e}, "
          + ", ".join(f"{k} {v:.2e}" for k, v in d.items()))
    assert 1e-8 < noise < 1e-3, noise
    assert all(v <= 3 * noise for v in d.values()), (d, noise)
