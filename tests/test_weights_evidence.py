"""Never a silently wrong import: look-alike layers pair by evidence (structure, names, a map) or are refused.

Sources: a tf_keras SavedModel of a residual block whose projection shortcut and third conv have the same kind
and shapes, built in its own process (tests/refmodels/tfkeras_residual.py), its layers created in another order
than the spec's; a Keras 3 `.weights.h5` with a planted swap of two same-shape layers. Oracles: the source
model's own outputs (written by the builder), the `.keras` model's pairing.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.diagnostics import NetcError, render_error

pytestmark = [pytest.mark.slow, pytest.mark.tf]
HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-5


def _have_tf_keras() -> bool:
    import importlib.util
    return importlib.util.find_spec("tf_keras") is not None


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    if not _have_tf_keras():
        pytest.skip("tf_keras is not installed (`pip install --no-deps tf-keras==2.21.0`, see the Makefile)")
    sys.path.insert(0, HERE)
    from refmodels import tfkeras_residual
    tmp = tmp_path_factory.mktemp("tfk_residual")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, os.path.join(HERE, "refmodels", "tfkeras_residual.py"), str(tmp)], env=env,
                   check=True, capture_output=True, timeout=600)
    spec = tmp / "residual.net"
    spec.write_text(tfkeras_residual.SPEC)
    return dict(dir=tmp, spec=str(spec), sm=str(tmp / "sm"), x=np.load(tmp / "x.npy"), y=np.load(tmp / "y.npy"))


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_tf_keras_savedmodel_look_alikes_pair_by_structure(residual, capsys):
    """The shortcut (`bottleneck/conv2d_3`, created last) and the third conv (`conv2d_2`) are the same 1x1
    64 -> 256 conv; the SavedModel's signature graph says which feeds the add from the stem."""
    model = netc.compile(residual["spec"], weights=residual["sm"])
    got = np.asarray(model.to_keras()(residual["x"], training=False))
    d = float(np.abs(got - residual["y"]).max() / np.abs(residual["y"]).max())
    assert d < TOL, d
    code, out, err = _cli(["weights", "match", residual["spec"], "--from", residual["sm"]], capsys)
    assert code == 0, err
    assert "SavedModel" in out and "10 layers paired by structure" in out
    row = next(ln for ln in out.splitlines() if "stem/s1/shortcut_conv/kernel" in ln)
    assert "bottleneck/conv2d_3 (Conv2D)" in row and row.split()[-1] == "structure", row
    row = next(ln for ln in out.splitlines() if "stem/s1/3_conv/kernel" in ln)
    assert "bottleneck/conv2d_2 (Conv2D)" in row, row


def test_check_runs_the_savedmodel_and_fails_a_wrong_pairing(residual, monkeypatch):
    from netc.check import run_check
    report = run_check(residual["spec"], weights=residual["sm"])
    assert report["ok"] and "source model (tf)" in report["columns"]
    assert "paired by structure" in report["weights"]
    # Without the graph (as for a signature netc cannot reduce), the look-alikes are refused...
    import netc.weights.savedmodel_graph as smg
    monkeypatch.setattr(smg, "serving_dag", lambda loaded, tf: None)
    with pytest.raises(NetcError) as err:
        netc.compile(residual["spec"], weights=residual["sm"])
    msg = render_error(err.value)
    assert "look-alikes" in msg and "stem/s1/shortcut_conv" in msg and "--map" in msg, msg
    # ... and a wrong pin (shortcut <-> third conv swapped) builds, but check against the SavedModel fails.
    pins = residual["dir"] / "wrong.yaml"
    pins.write_text("stem/s1/shortcut_conv: bottleneck/conv2d_2\nstem/s1/3_conv: bottleneck/conv2d_3\n"
                    "stem/s1/shortcut_bn: bottleneck/batch_normalization_2\n"
                    "stem/s1/3_bn: bottleneck/batch_normalization_3\n"
                    "stem/s1/1_bn: bottleneck/batch_normalization\nstem/s1/2_bn: bottleneck/batch_normalization_1\n"
                    "stem/layer_0/bn: batch_normalization\n")
    report = run_check(residual["spec"], weights=residual["sm"], weights_map=str(pins))
    assert not report["ok"]
    bad = {label for row in report["rows"] for label, res in row["results"].items() if not res["ok"]}
    assert bad == {"source model (tf)"}, bad


def _keras3_chain(tmp_path):
    """conv 3x3 -> BN -> conv 3x3 (same shape) -> BN: two pairs of look-alikes, saved as .keras + .weights.h5."""
    import keras
    L = keras.layers
    x = keras.Input((16, 16, 8))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    y = L.ReLU()(y)
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(y))
    m = keras.Model(x, L.ReLU()(y))
    rng = np.random.default_rng(3)
    for v in m.weights:
        v.assign(rng.uniform(0.5, 1.5, v.shape) if "variance" in v.path or "gamma" in v.path
                 else rng.normal(0, 0.3, v.shape))
    m.save(tmp_path / "m.keras")
    m.save_weights(tmp_path / "m.weights.h5")
    spec = tmp_path / "chain.net"
    spec.write_text("input img# 16x16x8\na#:\n    select:img#\n    cn_bn_r2_k3_s1_c8_nre\noutput a#\n")
    return m, str(spec)


def _swap_groups(path, swapped, pairs):
    import h5py
    swapped.write_bytes(path.read_bytes())
    with h5py.File(swapped, "r+") as f:
        g = f["layers"]
        for a, b in pairs:
            g.move(a, "tmp")
            g.move(b, a)
            g.move("tmp", b)


def test_weights_h5_pairs_by_layer_order_as_keras_loads_it(tmp_path, capsys):
    """A chain's look-alikes stand in `model.layers` in the chain's order whatever its weightless layers are:
    the .weights.h5 pairs by layer order and gives the .keras's arrays. A planted swap of two groups is what
    Keras's own `load_weights` reads too (the file says so): netc's arrays are those Keras loads."""
    m, spec = _keras3_chain(tmp_path)
    want = netc.compile(spec, weights=str(tmp_path / "m.keras")).weights
    got = netc.compile(spec, weights=str(tmp_path / "m.weights.h5"))
    for k in want:
        np.testing.assert_array_equal(got.weights[k], want[k], err_msg=k)
    note = next(w.message for w in got.checked.warnings if w.severity == "note")
    assert "4 layers paired by layer order" in note, note
    swapped = tmp_path / "swapped.weights.h5"
    _swap_groups(tmp_path / "m.weights.h5", swapped,
                 (("conv2d", "conv2d_1"), ("batch_normalization", "batch_normalization_1")))
    m.load_weights(swapped)
    conv_a = m.layers[1].get_weights()[0]
    assert not np.array_equal(conv_a, np.asarray(want["a/layer_0/conv/kernel"]))   # the swap is real
    got = netc.compile(spec, weights=str(swapped)).weights
    np.testing.assert_array_equal(got["a/layer_0/conv/kernel"], conv_a)
    code, out, _ = _cli(["weights", "match", spec, "--from", str(tmp_path / "m.weights.h5")], capsys)
    assert code == 0 and all(ln.split()[-1] == "order" for ln in out.splitlines()[4:] if ln.strip()), out


def _keras3_branches(tmp_path):
    """Two look-alike 3x3 convs on parallel branches, one followed by a ReLU, the other by a max pool, two
    outputs: which stands first in `model.layers` depends on the depth of what follows them."""
    import keras
    L = keras.layers
    x = keras.Input((16, 16, 8))
    a = L.ReLU()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    b = L.MaxPooling2D(3, 1, padding="same")(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    m = keras.Model(x, [a, b])
    rng = np.random.default_rng(4)
    for v in m.weights:
        v.assign(rng.normal(0, 0.3, v.shape))
    m.save(tmp_path / "b.keras")
    m.save_weights(tmp_path / "b.weights.h5")
    spec = tmp_path / "branches.net"
    spec.write_text("input img# 16x16x8\n"
                    "a#:\n    select:img#\n    cn_k3_s1_c8_nobias_nre\n"
                    "b#:\n    select:img#\n    cn_k3_s1_c8_nobias  maxpool_k3_s1_padsame\n"
                    "output a# b#\n")
    return str(spec)


def test_planted_swap_where_layer_order_is_no_evidence_is_refused(tmp_path):
    """Two look-alikes neither of which feeds the other, feeding different ops: the file's order of them is no
    evidence (the source's weightless layers decide it), so netc refuses the file and the planted swap alike."""
    spec = _keras3_branches(tmp_path)
    swapped = tmp_path / "swapped.weights.h5"
    _swap_groups(tmp_path / "b.weights.h5", swapped, (("conv2d", "conv2d_1"),))
    for p in (tmp_path / "b.weights.h5", swapped):
        with pytest.raises(NetcError) as err:
            netc.compile(spec, weights=str(p))
        msg = render_error(err.value)
        assert "order leaves 2 look-alikes open" in msg and "--map" in msg, msg
        assert "`a/layer_0/conv` (a 3x3 conv 8 -> 8 channels) is one of `conv2d`, `conv2d_1`" in msg, msg


def test_pins_pair_look_alikes_and_match_reports_the_evidence(tmp_path, capsys):
    spec = _keras3_branches(tmp_path)
    want = netc.compile(spec, weights=str(tmp_path / "b.keras")).weights
    pins = tmp_path / "pins.yaml"
    pins.write_text("a/layer_0/conv: conv2d\n")
    got = netc.compile(spec, weights=str(tmp_path / "b.weights.h5"), weights_map=str(pins)).weights
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    code, out, err = _cli(["weights", "match", spec, "--from", str(tmp_path / "b.weights.h5"), "--map", str(pins)],
                          capsys)
    assert code == 0, err
    assert "the map file 1" in out and "layer order" in out, out   # the pin leaves one order of the file
    rows = {next(t for t in ln.split() if t.endswith("/kernel")): ln.split()[-1]
            for ln in out.splitlines()[4:] if ln.strip()}
    assert rows == {"a/layer_0/conv/kernel": "map", "b/layer_0/conv/kernel": "order"}, rows


def test_unique_shapes_pair_by_shapes(tmp_path, capsys):
    import keras
    L = keras.layers
    x = keras.Input((16, 16, 3))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    y = L.Conv2D(4, 1, use_bias=False)(L.ReLU()(y))
    m = keras.Model(x, y)
    m.save(tmp_path / "m.keras")
    m.save_weights(tmp_path / "m.weights.h5")
    spec = tmp_path / "u.net"
    spec.write_text("input img# 16x16x3\na#:\n    select:img#\n    cn_bn_r1_k3_s1_c8_nre\n    hd_r1_k1_s1_c4\n"
                    "output a#\n")
    want = netc.compile(str(spec), weights=str(tmp_path / "m.keras")).weights
    got = netc.compile(str(spec), weights=str(tmp_path / "m.weights.h5")).weights
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    code, out, _ = _cli(["weights", "match", str(spec), "--from", str(tmp_path / "m.weights.h5")], capsys)
    assert code == 0 and "3 layers paired by shapes" in out, out
