"""Trained weights: tf_netbuilder checkpoints and netc .npz files against the reference fixture.

The fixture (tests/data/tf_netbuilder/mobilenet_v3, made with the original library) holds a
checkpoint and the original model's outputs on fixed inputs. Measured max|diff|/max|ref| against
io.npz: ONNX (onnxruntime CPU) 3.9e-7, Keras 2.3e-7.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import sys

import numpy as np
import onnxruntime as ort
import pytest

import netc
from netc.cli import main
from netc.compiler import check_spec
from netc.weights.checkpoint import read_checkpoint
from netc.weights.load import bind, find_prefix, load_weights
from netc.weights.npz import load_npz, save_npz

HERE = pathlib.Path(__file__).resolve().parent
FIX = HERE / "data" / "tf_netbuilder" / "mobilenet_v3"
CKPT = str(FIX / "ckpt")
YAML = str(FIX / "model_def.yaml")
NET = str(HERE.parent / "specs" / "mobilenet_v3.net")
OPENPOSE = str(HERE.parent / "specs" / "openpose.net")
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
TOL = 1e-5


# ----------------------------------------------------------------------------- helpers
def variables() -> dict[str, tuple[int, ...]]:
    """variables.txt: checkpoint key -> shape."""
    out = {}
    for line in (FIX / "variables.txt").read_text().splitlines():
        key, shape, _ = line.split("\t")
        out[key] = tuple(int(d) for d in shape.strip("[]").split(",") if d.strip())
    return out


def rel_diff(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(out - ref).max() / np.abs(ref).max())


def run_onnx(proto, x_nhwc: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x_nhwc.transpose(0, 3, 1, 2)})
    return y.transpose(0, 2, 3, 1)


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI; (exit code, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def spec_line(spec: str, text: str) -> int:
    """The 1-based line of ``spec`` holding ``text``."""
    for i, line in enumerate(pathlib.Path(spec).read_text().splitlines(), 1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {spec}")


def write_checkpoint(path: str, arrays: dict[str, np.ndarray], *, save: bool = False) -> str:
    """A tf.train.Checkpoint whose variable paths are the keys of ``arrays``; returns its prefix."""
    import tensorflow as tf
    top: dict[str, tf.Module] = {}
    for name, arr in arrays.items():
        first, *parts, leaf = name.split("/")
        obj = top.setdefault(first, tf.Module())
        for p in parts:
            if not hasattr(obj, p):
                setattr(obj, p, tf.Module())
            obj = getattr(obj, p)
        setattr(obj, leaf, tf.Variable(arr))
    ckpt = tf.train.Checkpoint(**top)
    return ckpt.save(path) if save else ckpt.write(path)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def io() -> dict[str, np.ndarray]:
    with np.load(FIX / "io.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model() -> netc.Model:
    return netc.compile(YAML, weights=CKPT)


@pytest.fixture(scope="module")
def onnx_bytes(model) -> bytes:
    return model.to_onnx().SerializeToString()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model) -> str:
    """The fixture checkpoint exported to .npz through the CLI."""
    out = str(tmp_path_factory.mktemp("npz") / "weights.npz")
    with pytest.raises(SystemExit) as exc:
        main(["weights", "export", NET, "--weights", CKPT, "-o", out])
    assert exc.value.code == 0
    return out


# ----------------------------------------------------------------------------- mapping
@pytest.mark.parametrize("spec", [YAML, NET], ids=["yaml", "net"])
def test_every_variable_maps_once(spec):
    checked = check_spec(spec)
    want = variables()
    assert len(want) == 264
    names = {f"model/net/{w.name}{SUFFIX}": w for w in checked.graph.weights}
    assert len(names) == len(checked.graph.weights) == 264
    assert set(names) == set(want)
    assert all(tuple(names[k].ext_shape) == want[k] for k in want)
    src = read_checkpoint(CKPT)
    assert len(src.shapes) == 264  # the object graph entry is dropped
    assert find_prefix(list(src.shapes), {w.name for w in checked.graph.weights}) == "model/net"
    values = bind(checked, src)
    assert set(values) == {w.name for w in checked.graph.weights}
    assert all(v.dtype == np.float32 and v.shape == w.shape for w in checked.graph.weights
               for v in [values[w.name]])


def test_depthwise_layout(model):
    w = next(w for w in model.graph.weights if w.name == "backbone/c3/depthwise_conv/depthwise_kernel")
    assert w.shape == (5, 5, 1, 120) and w.ext_shape == (5, 5, 120, 1)
    raw = read_checkpoint(CKPT).read("model/net/" + w.name)
    assert np.array_equal(model.weights[w.name], raw.reshape(w.shape))


# ----------------------------------------------------------------------------- artifacts
def test_onnx_reproduces_original(model, io):
    out = run_onnx(model.to_onnx(), io["input_0"])
    diff = rel_diff(out, io["output_0"])
    print(f"ONNX max|diff|/max|ref| = {diff:.3g}")
    assert out.shape == io["output_0"].shape and diff <= TOL


@pytest.mark.slow
@pytest.mark.tf
def test_keras_reproduces_original(model, io):
    kmodel = model.to_keras()
    out = kmodel(io["input_0"], training=False)
    out = np.asarray(out[0] if isinstance(out, (list, tuple)) else out)
    diff = rel_diff(out, io["output_0"])
    print(f"Keras max|diff|/max|ref| = {diff:.3g}")
    assert out.shape == io["output_0"].shape and diff <= TOL


def test_npz_export_rebuilds_identical_onnx(exported, onnx_bytes, model, tmp_path):
    with np.load(exported) as f:
        assert f.files == [w.name for w in model.graph.weights]
        dw = f["backbone/c3/depthwise_conv/depthwise_kernel"]
        assert dw.shape == (5, 5, 120, 1) and dw.dtype == np.float32
    assert netc.compile(YAML, weights=exported).to_onnx().SerializeToString() == onnx_bytes
    again = tmp_path / "again.npz"
    save_npz(model.graph, model.weights, again)
    assert again.read_bytes() == pathlib.Path(exported).read_bytes()  # reproducible bytes
    assert [p.name for p in tmp_path.iterdir()] == ["again.npz"]      # no temp file left


def test_npz_path_imports_no_tensorflow(exported, onnx_bytes, monkeypatch):
    had_tf = "tensorflow" in sys.modules
    for mod in ("tensorflow", "keras"):
        monkeypatch.setitem(sys.modules, mod, None)  # any import of them now fails
    checked = check_spec(NET)
    values = load_weights(checked, exported)
    assert set(values) == {w.name for w in checked.graph.weights}
    assert netc.compile(YAML, weights=exported).to_onnx().SerializeToString() == onnx_bytes
    monkeypatch.undo()
    assert ("tensorflow" in sys.modules) == had_tf


def test_other_prefixes_and_bookkeeping(model, tmp_path, onnx_bytes):
    ext = {w.name: model.weights[w.name].reshape(w.ext_shape) for w in model.graph.weights}
    plain = write_checkpoint(str(tmp_path / "plain" / "ckpt"), ext)
    assert netc.compile(YAML, weights=plain).to_onnx().SerializeToString() == onnx_bytes
    nested = {f"model/backbone/{k}": v for k, v in ext.items()}
    nested["optimizer/iter"] = np.int64(7)
    write_checkpoint(str(tmp_path / "saved" / "ckpt"), nested, save=True)  # adds save_counter
    values = load_weights(check_spec(NET), str(tmp_path / "saved"))     # a directory
    assert all(np.array_equal(values[k], model.weights[k]) for k in model.weights)


# ----------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def npz_arrays(exported) -> dict[str, np.ndarray]:
    with np.load(exported) as f:
        return {k: f[k] for k in f.files}


def _build(spec: str, weights: str, tmp_path, capsys) -> tuple[int, str]:
    return cli(["build", spec, "--weights", weights, "-o", str(tmp_path / "m.onnx")], capsys)


def test_checkpoint_of_another_model(tmp_path, capsys):
    code, err = cli(["weights", "export", OPENPOSE, "--weights", CKPT, "-o", str(tmp_path / "w.npz")], capsys)
    assert code == 2 and "Traceback" not in err
    assert "does not match the spec: 200 of 942 variables found under `model/net/`" in err
    assert f"openpose.net:{spec_line(OPENPOSE, 'cn2_r5_e1_c192_npre')}:" in err
    assert "`model/net/stage_0/layer_0/conv1/depthwise_conv/depthwise_kernel`" in err
    assert "64 not used by the spec" in err


def test_checkpoint_of_tiny_model(tmp_path, capsys):
    tiny = tmp_path / "tiny.net"
    tiny.write_text("input x#norm1 8x8x3\nf#:\n    select:x#\n    cn_bn_r1_k3_s1_c4_nre\noutput f#\n")
    values = netc.compile(str(tiny)).weights
    prefix = write_checkpoint(str(tmp_path / "tiny" / "ckpt"), {f"net/{k}": v for k, v in values.items()})
    assert np.array_equal(netc.compile(str(tiny), weights=prefix).weights["f/layer_0/conv/kernel"],
                          values["f/layer_0/conv/kernel"])
    code, err = _build(NET, prefix, tmp_path, capsys)
    assert code == 2 and "Traceback" not in err
    assert "does not match the spec: 0 of 264 variables found" in err
    assert f"mobilenet_v3.net:{spec_line(NET, 'cn_bn_r1_k3_s2_c16_nhs')}:" in err
    assert "`backbone/layer_0/conv/kernel`" in err and "`net/f/layer_0/bn/beta`" in err


def test_truncated_checkpoint(tmp_path, capsys):
    for f in FIX.glob("ckpt.*"):
        shutil.copy(f, tmp_path / f.name)
    data = tmp_path / "ckpt.data-00000-of-00001"
    with open(data, "r+b") as fh:
        fh.truncate(os.path.getsize(data) // 2)
    code, err = _build(NET, str(tmp_path / "ckpt"), tmp_path, capsys)
    assert code == 2 and "Traceback" not in err
    assert str(data) in err and "truncated" in err
    assert "cannot read `model/net/backbone/" in err and "mobilenet_v3.net:" in err


def test_checkpoint_index_missing_or_damaged(tmp_path, capsys):
    shutil.copy(FIX / "ckpt.data-00000-of-00001", tmp_path)
    code, err = _build(NET, str(tmp_path / "ckpt"), tmp_path, capsys)
    assert code == 2 and f"checkpoint index `{tmp_path / 'ckpt.index'}` is missing" in err
    (tmp_path / "ckpt.index").write_bytes((FIX / "ckpt.index").read_bytes()[:5000])
    code, err = _build(NET, str(tmp_path / "ckpt"), tmp_path, capsys)
    assert code == 2 and f"cannot read checkpoint index `{tmp_path / 'ckpt.index'}`" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("what", ["checkpoint", "npz"])
def test_missing_file(what, tmp_path, capsys):
    path = str(tmp_path / ("nothing.npz" if what == "npz" else "nothing"))
    code, err = _build(NET, path, tmp_path, capsys)
    assert code == 2 and f"`{path}`" in err and err.startswith("netc: error: no ")
    assert not (tmp_path / "m.onnx").exists()


def _npz(tmp_path, arrays: dict[str, np.ndarray]) -> str:
    path = str(tmp_path / "w.npz")
    np.savez(path, **arrays)
    return path


def test_npz_missing_array(npz_arrays, tmp_path, capsys):
    arrays = dict(npz_arrays)
    del arrays["backbone/c3/se/squeeze/kernel"]
    code, err = _build(NET, _npz(tmp_path, arrays), tmp_path, capsys)
    assert code == 2 and err.count("error:") == 1
    assert f"mobilenet_v3.net:{spec_line(NET, 'c3#ir_r3_k5_s2_e3_c40_se4_nre')}:" in err
    assert ("`backbone/c3/se/squeeze/kernel` is missing: block `c3` of `backbone#` "
            "(`c3#ir_r3_k5_s2_e3_c40_se4_nre`) needs it, shape (1, 1, 120, 32)") in err


def test_npz_extra_array(npz_arrays, tmp_path, capsys):
    arrays = dict(npz_arrays)
    arrays["backbone/c4/se/squeeze/kernal"] = np.zeros((1, 1, 672, 168), np.float32)
    code, err = _build(YAML, _npz(tmp_path, arrays), tmp_path, capsys)
    assert code == 2 and err.count("error:") == 1
    assert "`backbone/c4/se/squeeze/kernal` (1, 1, 672, 168) is not used by the spec" in err
    assert "did you mean `backbone/c4/se/squeeze/kernel` of block `c4` of `backbone#`" in err
    assert f"model_def.yaml:{spec_line(YAML, 'c4#ir_r2_k3_s1_e6_c112_se4_nhs')}:" in err


def test_npz_wrong_shapes(npz_arrays, tmp_path, capsys):
    arrays = dict(npz_arrays)
    arrays["backbone/layer_0/conv/kernel"] = np.zeros((3, 3, 3, 8), np.float32)
    arrays["backbone/c5/depthwise_conv/depthwise_kernel"] = np.zeros((5, 5, 1, 960), np.float32)
    code, err = _build(NET, _npz(tmp_path, arrays), tmp_path, capsys)
    assert code == 2 and err.count("error:") == 2
    assert ("`backbone/layer_0/conv/kernel` has shape (3, 3, 3, 8), but block `layer_0` of `backbone#` "
            "(`cn_bn_r1_k3_s2_c16_nhs`) expects (3, 3, 3, 16)") in err
    assert f"mobilenet_v3.net:{spec_line(NET, 'cn_bn_r1_k3_s2_c16_nhs')}:" in err
    assert f"mobilenet_v3.net:{spec_line(NET, 'c5#ir_r3_k5_s2_e6_c160_se4_nhs')}:" in err
    assert "depthwise kernels are stored as (kh, kw, C, 1)" in err


def test_many_problems_reported_together(npz_arrays, tmp_path, capsys):
    arrays = {k: v for i, (k, v) in enumerate(npz_arrays.items()) if i % 20 != 0}  # 14 missing
    code, err = _build(NET, _npz(tmp_path, arrays), tmp_path, capsys)
    assert code == 2 and err.count("error:") == 10 and "4 more problems" in err


def test_damaged_npz(exported, tmp_path, capsys):
    data = pathlib.Path(exported).read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    code, err = _build(NET, str(bad), tmp_path, capsys)
    assert code == 2 and f"cannot read .npz file `{bad}`" in err and "Traceback" not in err
    with pytest.raises(netc.NetcError, match="holds int64 values"):
        load_npz(check_spec(NET), _npz(tmp_path, {k: v.astype(np.int64) for k, v in np.load(exported).items()}))
