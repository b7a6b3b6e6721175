"""Issue 24: the newer surfaces' bad inputs (templates, modular YAML, plugins, calibration data, serving layouts,
outputs that are inputs). Each answer is a clean exit-2 error at the right place, or a working build; nothing is
left behind on failure."""
from __future__ import annotations

import os

import numpy as np
import pytest

from netc.cli import main
from test_errors import errors, run

PASSTHRU = "input img# 32x32x3\npassthru#:\n    select:img#\nbackbone#:\n    select:img#\n    cn_k3_c8\n" \
           "output backbone# passthru#\n"


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


# ---------------------------------------------------------------- an output that is a model input
@pytest.mark.parametrize("deploy", [False, True])
def test_output_that_is_an_input_builds_and_runs(tmp_path, capsys, deploy):
    import onnxruntime as ort
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    out = tmp_path / "p.onnx"
    code, _, err = run(capsys, "build", str(spec), "-o", str(out), *(["--deploy"] if deploy else []))
    assert code == 0, err
    sess = ort.InferenceSession(str(out))
    assert [o.name for o in sess.get_outputs()] == ["backbone", "passthru"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 32, 32)).astype(np.float32)
    ys = sess.run(None, {sess.get_inputs()[0].name: x})
    assert ys[0].shape == (2, 8, 32, 32)
    np.testing.assert_array_equal(ys[1], x)   # the input itself, unchanged


# ---------------------------------------------------------------- calibration data that cannot be read
def _int8(tmp_path, capsys, files: dict[str, bytes | np.ndarray]) -> tuple[int, str]:
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    cal = tmp_path / "cal"
    cal.mkdir()
    for name, content in files.items():
        if isinstance(content, np.ndarray):
            np.save(cal / name, content)
        else:
            (cal / name).write_bytes(content)
    out = tmp_path / "q.onnx"
    code, stdout, err = run(capsys, "build", str(spec), "--precision", "int8", "--calibration-data", str(cal),
                            "-o", str(out))
    assert "Traceback" not in err and "internal error" not in err and "aborted" not in err, err
    assert not out.exists() and stdout == ""
    return code, err


def _npy(shape=(1, 3, 32, 32)) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, np.zeros(shape, np.float32))
    return buf.getvalue()


def _npz() -> bytes:
    import io
    buf = io.BytesIO()
    np.savez(buf, img=np.zeros((1, 3, 32, 32), np.float32))
    return buf.getvalue()


@pytest.mark.parametrize("files, message", [
    ({"a.npy": b""}, "the file is empty (0 bytes)"),
    ({"a.npy": np.array(["a", "b"])}, "holds <U1 elements"),
    ({"a.npy": np.zeros((1, 3, 32, 32), np.complex64)}, "calibration inputs are real numbers"),
    ({"a.npy": _npy()[:100]}, "as a .npy array: the file is damaged"),
    ({"a.npy": b"not numpy at all"}, "as a .npy array: it is not one (no .npy header)"),
    ({"a.npz": b""}, "as a .npz archive: the file is empty"),
    ({"a.npz": b"garbage"}, "as a .npz archive: it is not one (no zip header)"),
    ({"a.npz": _npz()[: len(_npz()) // 2]}, "as a .npz archive: the file is damaged"),
    ({"a.npz": _npy()}, "is a .npy array, not a .npz archive"),
    ({"a.png": b""}, "cannot read the image"),
    ({"a.png": b"\x89PNG\r\n\x1a\n broken"}, "cannot read the image"),
])
def test_damaged_calibration_files_are_named_errors(tmp_path, capsys, files, message):
    pytest.importorskip("PIL")
    code, err = _int8(tmp_path, capsys, files)
    assert code == 2 and err.startswith("netc: error: ") and message in err, err
    assert str(tmp_path / "cal" / next(iter(files))) in err


def test_an_eof_error_in_netc_is_an_internal_error_not_aborted(tmp_path, capsys, monkeypatch):
    """click turns any EOFError into `Abort`; netc has no prompt, so it is a bug of netc's, said as one."""
    import netc.compiler

    def boom(*a, **k):
        raise EOFError("ran out")
    monkeypatch.setattr(netc.compiler, "check_spec", boom)
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    code, _, err = run(capsys, "summary", str(spec))
    assert code == 3 and "internal error: EOFError: ran out" in err and "aborted" not in err, err


# ---------------------------------------------------------------- serving layouts: every target checked first
@pytest.mark.parametrize("serve", ["triton", "tf-serving"])
def test_a_model_directory_that_is_a_file(tmp_path, capsys, serve):
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "p").write_text("a file")
    code, _, err = run(capsys, "build", str(spec), "--serve", serve, "-o", str(repo))
    assert code == 2 and "a file or link of that name exists" in err, err
    assert _files(repo) == ["p"]


def test_triton_config_that_is_a_directory_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    repo = tmp_path / "repo"
    (repo / "p" / "config.pbtxt").mkdir(parents=True)
    (repo / "p" / "config.pbtxt" / "keep").write_text("x")
    code, _, err = run(capsys, "build", str(spec), "--serve", "triton", "-o", str(repo))
    assert code == 2 and "config.pbtxt`: a directory or link of that name exists" in err, err
    assert _files(repo) == ["p/config.pbtxt/keep"]   # no version directory, no model.onnx


def test_triton_layout_is_written_when_nothing_is_in_the_way(tmp_path, capsys):
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    repo = tmp_path / "repo"
    code, _, err = run(capsys, "build", str(spec), "--serve", "triton", "-o", str(repo))
    assert code == 0, err
    assert _files(repo) == ["p/1/model.onnx", "p/config.pbtxt"]


# ---------------------------------------------------------------- every call into plugin code is guarded
_NET = "input img# 8x8x3\nb#:\n    select:img#\n    {block}\noutput b#\n"

PLUGIN_HOOKS = {
    # a block type's warnings() raising
    "warnings": ("from netc.registry import BlockType\n\ndef register(reg):\n    class B(BlockType):\n"
                 "        code, doc, params = 'zz', 'z', {}\n\n        def warnings(self, a):\n"
                 "            return {}['nope']\n\n        def lower(self, b, a, x):\n            return x\n"
                 "    reg.block(B)\n", "zz", 4, 5, "the plugin block type `zz` failed in `warnings()`: KeyError"),
    # warnings() returning something that is no list of (message, span)
    "warnings-result": ("from netc.registry import BlockType\n\ndef register(reg):\n    class B(BlockType):\n"
                        "        code, doc, params = 'zz', 'z', {}\n\n        def warnings(self, a):\n"
                        "            return 'careful'\n\n        def lower(self, b, a, x):\n            return x\n"
                        "    reg.block(B)\n", "zz", 4, 5, "the plugin block type `zz`: `warnings()` must return a list of (message, span) pairs"),
    # a plugin activation used by a built-in block
    "activation": ("def register(reg):\n    @reg.activation('bad', 'broken')\n    def bad(b, x, name):\n"
                   "        return x.nothing\n", "cn_k3_c8_nbad", 4, 5,
                   "`cn` failed while lowering (in a plugin's code): AttributeError"),
    # a plugin input op
    "input-op": ("def register(reg):\n    @reg.input_op('half', 'x/2')\n    def half(b, x):\n        raise RuntimeError('no')\n",
                 None, 1, 11, "the plugin input op `half` failed while lowering: RuntimeError: no"),
}


@pytest.mark.parametrize("hook", sorted(PLUGIN_HOOKS))
def test_plugin_hooks_raising_are_located_errors(tmp_path, capsys, hook):
    source, block, line, col, message = PLUGIN_HOOKS[hook]
    plugin = tmp_path / "plug.py"
    plugin.write_text(source)
    spec = tmp_path / "s.net"
    spec.write_text(_NET.format(block=block) if block else "input img#half 8x8x3\nb#:\n    select:img#\n"
                    "    cn_k3_c8\noutput b#\n")
    code, out, err = run(capsys, "summary", str(spec), "--plugin", str(plugin))
    assert code == 2 and out == "" and "internal error" not in err, err
    assert err.startswith(f"{spec}:{line}:{col}: error: {message}"), err
    if hook in ("activation", "input-op"):
        assert f"raised at {plugin}:" in err   # the plugin's own line, as a note


def test_plugin_module_check_raising_is_located_at_the_module(tmp_path, capsys):
    plugin = tmp_path / "plug.py"
    plugin.write_text("from netc.registry import ModuleType, Kwarg\n\ndef register(reg):\n"
                      "    class M(ModuleType):\n        name = 'mm'\n        kwargs = {'c': Kwarg('int')}\n\n"
                      "        def check(self, kw, spans):\n            return 1 / 0\n\n"
                      "        def lower(self, b, kw, xs):\n            return xs[0]\n    reg.module(M)\n")
    spec = tmp_path / "m.yaml"
    spec.write_text("input: img# 8x8x3\nnet:\n  - name: a\n    type: mm\n    kwargs: {c: 3}\n")
    code, out, err = run(capsys, "summary", str(spec), "--plugin", str(plugin))
    assert code == 2 and "internal error" not in err, err
    assert err.startswith(f"{spec}:4:11: error: the plugin module `mm` failed in `check()`: ZeroDivisionError"), err


def test_plugin_module_returning_its_input_builds(tmp_path, capsys):
    """A module that returns its input unchanged makes a model output that is the model input."""
    import onnxruntime as ort
    plugin = tmp_path / "plug.py"
    plugin.write_text("from netc.registry import ModuleType\n\ndef register(reg):\n"
                      "    class M(ModuleType):\n        name = 'same'\n\n"
                      "        def lower(self, b, kw, xs):\n            return xs[0]\n    reg.module(M)\n")
    spec = tmp_path / "m.yaml"
    spec.write_text("input: img# 8x8x3\nnet:\n  - name: a\n    type: same\n")
    out = tmp_path / "m.onnx"
    code, _, err = run(capsys, "build", str(spec), "--plugin", str(plugin), "-o", str(out))
    assert code == 0, err
    sess = ort.InferenceSession(str(out))
    x = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    np.testing.assert_array_equal(sess.run(None, {sess.get_inputs()[0].name: x})[0], x)


def test_netc_bugs_under_a_plugin_stay_internal_errors(tmp_path, capsys, monkeypatch):
    """The guard blames a plugin only for what passed through its code: a built-in block's own failure, with a
    plugin loaded, is still netc's internal error (exit 3)."""
    from netc.blocks import REGISTRY
    plugin = tmp_path / "plug.py"
    plugin.write_text("def register(reg):\n    pass\n")
    spec = tmp_path / "s.net"
    spec.write_text(_NET.format(block="cn_k3_c8"))

    def broken(self, b, a, x):
        raise RuntimeError("netc bug")
    monkeypatch.setattr(type(REGISTRY.blocks["cn"]), "lower", broken)
    code, _, err = run(capsys, "summary", str(spec), "--plugin", str(plugin))
    assert code == 3 and "internal error: RuntimeError: netc bug" in err, err


# ---------------------------------------------------------------- templates: one rule for separators and labels
def test_template_labels_as_parameters_work(tmp_path, capsys):
    spec = tmp_path / "t.net"
    spec.write_text("input img# 8x8x3\ntemplate t_c_l:\n    cn_k3_c{c}\n    {l}#cn_k1_c{c}\nb#:\n    select:img#\n"
                    "    t_c8_lx\n    t_c4_ly\n    cnct:x#:y#\noutput b#\n")
    code, out, err = run(capsys, "summary", str(spec))
    assert code == 0 and "b# Nx8x8x12" in out, err


# ---------------------------------------------------------------- stderr starts with netc's own message
@pytest.mark.tf
def test_commands_loading_tensorflow_print_netc_first(tmp_path):
    """With TensorFlow's log level left unset, a command that loads TensorFlow and then fails prints netc's
    message first: no absl or oneDNN start-up lines before it."""
    import subprocess
    import sys
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b"not a protobuf")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", "from netc.cli import main; main()", "build", str(spec),
                           "--weights", str(sm), "-o", str(tmp_path / "x.onnx")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("netc: error: "), proc.stderr[:500]
    assert "absl" not in proc.stderr and "oneDNN" not in proc.stderr


def test_summary_of_a_select_inside_a_stack_and_a_template(tmp_path, capsys):
    """A `select:` row has no checkpoint name: the summary prints it with an empty name column."""
    spec = tmp_path / "t.net"
    spec.write_text("input img# 8x8x3\ntemplate t:\n    select:img#\n    cn_k3_c8\nb#:\n    select:img#\n"
                    "    cn_k3_c4\n    t\noutput b#\n")
    code, out, err = run(capsys, "summary", str(spec))
    assert code == 0, err
    rows = [ln.split() for ln in out.splitlines()]
    assert ["select:img#", "Nx8x8x3", "0", "0"] in rows and ["layer_1", "cn_k3_c8", "Nx8x8x8", "224", "13.82K"] in rows


REGISTER_MISTAKES = {
    "param-not-a-Param": ("from netc.registry import BlockType\n\ndef register(reg):\n    class B(BlockType):\n"
                          "        code, doc, params = 'zz', 'z', {'c': 3}\n\n        def lower(self, b, a, x):\n"
                          "            return x\n    reg.block(B)\n", 9, "argument `c` must map to a Param"),
    "block-not-a-class": ("def register(reg):\n    reg.block(len)\n", 2, "reg.block takes a BlockType subclass"),
    "op-input-range": ("def register(reg):\n    reg.op('qq', 'q', 3, 1)(lambda b, xs, names: xs[0])\n", 2,
                       "op `qq`: inputs from 3 to 1 is no range"),
    "sys-exit": ("import sys\n\ndef register(reg):\n    sys.exit(3)\n", 4, "SystemExit: 3"),
}


@pytest.mark.parametrize("kind", sorted(REGISTER_MISTAKES))
def test_plugin_registration_mistakes(tmp_path, capsys, kind):
    source, line, message = REGISTER_MISTAKES[kind]
    plugin = tmp_path / "plug.py"
    plugin.write_text(source)
    spec = tmp_path / "s.net"
    spec.write_text(_NET.format(block="cn_k3_c8"))
    code, _, err = run(capsys, "summary", str(spec), "--plugin", str(plugin))
    assert code == 2 and f"{plugin}:{line}:" in err and message in err and "internal error" not in err, err


def test_plugin_exiting_while_lowering_is_its_mistake(tmp_path, capsys):
    plugin = tmp_path / "plug.py"
    plugin.write_text("import sys\nfrom netc.registry import BlockType\n\ndef register(reg):\n    class B(BlockType):\n"
                      "        code, doc, params = 'zz', 'z', {}\n\n        def lower(self, b, a, x):\n"
                      "            sys.exit(0)\n    reg.block(B)\n")
    spec = tmp_path / "s.net"
    spec.write_text(_NET.format(block="zz"))
    code, _, err = run(capsys, "summary", str(spec), "--plugin", str(plugin))
    assert code == 2 and "the plugin block type `zz` failed while lowering: SystemExit: 0" in err, err


@pytest.mark.parametrize("text, message", [
    ("    spfuse_l3:img#\n", "e.g. `spfuse_l3_tb:img#`"),   # an op's arguments come before its references
])
def test_missing_argument_examples_are_valid_notation(tmp_path, capsys, text, message):
    spec = tmp_path / "s.net"
    spec.write_text("input img# 8x8x3\nb#:\n    select:img#\n" + text + "output b#\n")
    code, _, err = run(capsys, "summary", str(spec))
    assert code == 2 and message in err, err


def test_triton_version_that_is_a_file_is_not_called_a_savedmodel(tmp_path, capsys):
    spec = tmp_path / "p.net"
    spec.write_text(PASSTHRU)
    (tmp_path / "repo" / "p").mkdir(parents=True)
    (tmp_path / "repo" / "p" / "1").write_text("x")
    code, _, err = run(capsys, "build", str(spec), "--serve", "triton", "-o", str(tmp_path / "repo"))
    assert code == 2 and "cannot write the directory" in err and "SavedModel" not in err, err
    assert _files(tmp_path / "repo") == ["p/1"]


def test_a_multi_select_inside_a_stack(tmp_path, capsys):
    """`select:a#:img#` inside a stack holds two tensors: its row has no single shape; `cnct:` joins them."""
    spec = tmp_path / "m.net"
    spec.write_text("input img# 8x8x3\nb#:\n    select:img#\n    a#cn_k3_c8\n    select:a#:img#\n    cnct:\n"
                    "output b#\n")
    code, out, err = run(capsys, "summary", str(spec))
    assert code == 0, err
    assert ["select:a#:img#", "-", "0", "0"] in [ln.split() for ln in out.splitlines()]
    assert "outputs: b# Nx8x8x11" in out


@pytest.mark.parametrize("form", ["labelled input", "modular"])
def test_drop_connect_schedule_counts_every_way_a_block_is_written(form, tmp_path):
    """`dc` rates are dc * b / B over the B copies written with `dc`: a block written with its input
    (`mb_...:x#`) or as a modular-YAML module counts like one written plainly (the fuzzer found B = 0 there: a
    division by zero). Here B = 3: copy b has rate 0.5 * b / 3, and a drop where the copy has a residual."""
    import netc
    if form == "modular":
        spec = tmp_path / "m.yaml"
        spec.write_text("input: img# 16x16x3\nnet:\n"
                        '  - {"name": "a", "type": "cn", "kwargs": {"k": 3, "c": 8, "bn": true}}\n'
                        '  - {"name": "m0", "type": "mb", "kwargs": {"k": 3, "c": 8, "e": 4, "dc": 0.5}}\n'
                        '  - {"name": "m1", "type": "mb", "kwargs": {"k": 3, "c": 8, "e": 4, "dc": 0.5, "r": 2}}\n'
                        "output: m1\n")
    else:
        spec = tmp_path / "m.net"
        spec.write_text("input img# 16x16x3\nnet#:\n    select:img#\n    x#cn_bn_k3_c8_nre\n"
                        "    mb_k3_e4_c8_dc0.5:x#\n    mb_r2_k3_e4_c8_dc0.5\noutput net#\n")
    m = netc.compile(str(spec))
    rates = [n.attrs["rate"] for n in m.graph.nodes if n.prim.value == "dropout"]
    # (the modules here each read the model's input, 3 channels: only m1's second copy has a residual)
    assert rates == pytest.approx([1.0 / 3] if form == "modular" else [0.5 / 3, 1.0 / 3]), rates
