"""The weight import's messages: what netc recognised, what it expected, where (spec or map file line + caret)."""
from __future__ import annotations

import zipfile

import pytest

from netc.cli import main

SPEC = "input img# 16x16x3\na#:\n    select:img#\n    cn_bn_r1_k3_s1_c8_nre\n    hd_r1_k1_s1_c4\noutput a#\n"


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "s.net"
    p.write_text(SPEC)
    return str(p)


def test_map_without_weights_is_an_error(spec, tmp_path, capsys):
    (tmp_path / "m.yaml").write_text("a/layer_0/conv: conv2d\n")
    for argv in (["build", spec, "--map", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "o.onnx")],
                 ["build", spec, "--subtree", "backbone", "-o", str(tmp_path / "o.onnx")]):
        code, _, err = _cli(argv, capsys)
        assert code == 2 and "no `--weights` is given" in err, err
    assert not (tmp_path / "o.onnx").exists()


def test_truncated_keras_file_says_what_it_is(spec, tmp_path, capsys):
    good = tmp_path / "m.keras"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("config.json", "{}" * 400)
        zf.writestr("model.weights.h5", b"\0" * 4000)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = _cli(["build", spec, "--weights", str(cut), "-o", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and "Traceback" not in err
    assert "is a zip archive" in err and "truncated" in err and "File not found" not in err, err
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    code, _, err = _cli(["build", spec, "--weights", str(empty), "-o", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and "(0 bytes)" in err and "an empty file" in err, err


def test_directory_without_savedmodel_or_checkpoint(spec, tmp_path, capsys):
    d = tmp_path / "exported"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    code, _, err = _cli(["build", spec, "--weights", str(d), "-o", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and "not a SavedModel (no `saved_model.pb`)" in err and ".index" in err, err


def test_unknown_file_names_the_formats(spec, tmp_path, capsys):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"\x01\x02\x03\x04" * 10)
    code, _, err = _cli(["build", spec, "--weights", str(f), "-o", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and "no netc .npz, no Keras file" in err and "SavedModel directory" in err, err


@pytest.mark.slow
@pytest.mark.tf
def test_match_errors_and_map_pins_are_located(spec, tmp_path, capsys):
    import keras
    L = keras.layers
    x = keras.Input((16, 16, 3))
    # named: Keras's default names carry per-process counters (`conv2d_1022` after other tests built models)
    y = L.BatchNormalization(name="bn")(L.Conv2D(8, 3, padding="same", use_bias=False, name="conv2d")(x))
    m = keras.Model(x, L.Conv2D(5, 1, use_bias=False, name="conv2d_1")(L.ReLU()(y)))   # 5 outputs; the head has 4
    m.save(tmp_path / "m.keras")
    code, _, err = _cli(["weights", "match", spec, "--from", str(tmp_path / "m.keras")], capsys)
    assert code == 2 and "s.net:5:5: error:" in err and "hd_r1_k1_s1_c4" in err and "^" in err, err
    (tmp_path / "pins.yaml").write_text("# pins\na/layer_0/conv: conv2d\na/layer_9/conv: conv2d_1\n")
    code, _, err = _cli(["weights", "match", spec, "--from", str(tmp_path / "m.keras"),
                         "--map", str(tmp_path / "pins.yaml")], capsys)
    assert code == 2, err
    assert "pins.yaml:3:1: error: map entry `a/layer_9/conv`" in err and "did you mean `a/layer_" in err, err
    assert "    a/layer_9/conv: conv2d_1\n    ^~~" in err, err


@pytest.mark.slow
@pytest.mark.tf
def test_mobilenet_v1_zero_padding_is_same(tmp_path, capsys):
    """keras.applications' MobileNet pads its stride-2 convs with ZeroPadding2D((0, 1), (0, 1)) and VALID:
    exactly SAME at an even size, so no padding warning; at an odd size it is not SAME, and netc says so."""
    import keras
    L = keras.layers
    for size, warned in ((32, False), (33, True)):
        x = keras.Input((size, size, 3))
        y = L.ZeroPadding2D(((0, 1), (0, 1)))(x)
        y = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False)(y)
        m = keras.Model(x, L.ReLU()(L.BatchNormalization()(y)))
        p = tmp_path / f"m{size}.keras"
        m.save(p)
        s = tmp_path / f"s{size}.net"
        s.write_text(f"input img# {size}x{size}x3\na#:\n    select:img#\n    cn_bn_r1_k3_s2_c8_nre\noutput a#\n")
        code, _, err = _cli(["weights", "match", str(s), "--from", str(p)], capsys)
        assert code == 0, err
        assert ("padding same in the spec, valid" in err) == warned, (size, err)
