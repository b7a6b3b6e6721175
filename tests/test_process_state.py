"""No process-wide state from the library: the PReLU form is an emit option (not a module switch), outputs
get their mode from the kernel (no umask call), the garbage collector is left as the caller set it, one module
sets TensorFlow's log level and spells "TensorFlow is missing", and plugin files that share a basename are two
modules."""
from __future__ import annotations

import gc
import os
import sys
import textwrap

import numpy as np
import pytest

import netc
from netc.backends.onnx import to_onnx
from netc.diagnostics import NetcError
from netc.ir.builder import Builder
from netc.ir.weights import init_weights
from tests.conftest import ROOT

PRELU_NET = "input x# 8x8x4\nb#:\n    select:x#\n    cn_k3_c4_npre\noutput b#\n"


def _prelu_graph():
    b = Builder("p")
    x = b.input("x", (None, 4, 4, 2))
    b.output("y", b.prelu(x, name="act", per_channel=True))
    weights = init_weights(b.graph, seed=0, randomize=True)
    name = next(n for n in weights if n.endswith("alpha"))
    weights[name] = np.array([0.25, 0.5], np.float32).reshape(weights[name].shape)   # all in (0, 1]: the chosen form is Max(x, x * s)
    return b.graph, weights


def _ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_prelu_form_is_an_option_of_one_emission() -> None:
    import netc.backends.onnx.prelu as prelu
    assert not hasattr(prelu, "PRELU_FORCE")
    graph, weights = _prelu_graph()
    assert "PRelu" in _ops(to_onnx(graph, weights, prelu_form="prelu"))
    assert "Max" in _ops(to_onnx(graph, weights)) and "PRelu" not in _ops(to_onnx(graph, weights))   # nothing kept
    with pytest.raises(NetcError, match="unknown PReLU form `fast`"):
        to_onnx(graph, weights, prelu_form="fast")


def test_prelu_form_through_the_backend_object(tmp_path) -> None:
    model = netc.compile(PRELU_NET, randomize=True)
    path = tmp_path / "p.onnx"
    model.save(str(path), backend="onnx", prelu_form="where")
    import onnx
    assert "Where" in _ops(onnx.load(str(path)))
    assert "Where" not in _ops(model.to_onnx())


def test_outputs_get_their_mode_from_the_kernel_without_a_umask_call(tmp_path, monkeypatch) -> None:
    from netc.atomic import atomic_dir, atomic_file
    old = os.umask(0o027)
    try:
        def no_umask(*_):
            raise AssertionError("netc called os.umask")
        monkeypatch.setattr(os, "umask", no_umask)
        with atomic_file(tmp_path / "f.bin") as (_, fh):
            fh.write(b"x")
        with atomic_dir(tmp_path / "d") as d:
            open(os.path.join(d, "inside"), "w").close()
        model = netc.compile(PRELU_NET)
        model.to_onnx(str(tmp_path / "m.onnx"))
    finally:
        monkeypatch.undo()
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"f.bin": 0o640, "d": 0o750, "m.onnx": 0o640}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary left


def test_library_leaves_the_garbage_collector_alone(monkeypatch) -> None:
    calls = []
    for fn in ("disable", "enable", "freeze"):
        monkeypatch.setattr(gc, fn, lambda *a, _fn=fn: calls.append(_fn))
    model = netc.compile(PRELU_NET)
    model.to_onnx()
    netc.compiler.check_spec(PRELU_NET)
    assert calls == [] and gc.isenabled()


def _sources_outside_weights():
    for path in sorted((ROOT / "netc").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("netc/weights/"):   # netc/weights/ is being restructured (issue 21)
            yield rel, path.read_text(encoding="utf-8")


def test_one_module_sets_the_tensorflow_log_level_and_spells_its_absence() -> None:
    setters = [rel for rel, text in _sources_outside_weights() if "TF_CPP_MIN_LOG_LEVEL" in text]
    assert setters == ["netc/optional.py"]
    hints = [rel for rel, text in _sources_outside_weights() if "netc[tf]" in text]
    assert hints == ["netc/optional.py"]


def test_tensorflow_log_level_keeps_the_users_value(monkeypatch) -> None:
    from netc.optional import TF_LOG_LEVEL, quiet_tensorflow
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == TF_LOG_LEVEL
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_missing_tensorflow_message(monkeypatch) -> None:
    from netc.optional import require_tensorflow
    monkeypatch.setitem(sys.modules, "tensorflow", None)   # `import tensorflow` raises ImportError
    with pytest.raises(NetcError) as err:
        require_tensorflow("building a Keras model", alternative="or build ONNX")
    msg = err.value.diagnostics[0].message
    assert msg.startswith("building a Keras model needs tensorflow, which is not installed (ModuleNotFoundError")
    assert msg.endswith("install it with `pip install 'netc[tf]'`; or build ONNX")


PLUGIN = """
from netc.registry import Args, BlockType


class B(BlockType):
    code, doc = "{code}", "a plugin block"

    def lower(self, b, a: Args, x):
        return b.relu(x, name="relu")


def register(reg):
    reg.block(B)
"""


def test_plugins_of_one_basename_are_two_modules(tmp_path) -> None:
    from netc.plugins import load_file
    files = []
    for folder, code in (("one", "pa"), ("two", "pb")):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "blocks.py"
        path.write_text(textwrap.dedent(PLUGIN.format(code=code)))
        files.append(str(path))
    before = set(sys.modules)
    spec = "input x# 8x8x4\nb#:\n    select:x#\n    pa\n    pb\noutput b#\n"
    checked = netc.compiler.check_spec(spec, plugins=files)
    assert [b.text for b in checked.stacks[0].blocks] == ["pa", "pb"]
    new = sorted(m for m in set(sys.modules) - before if m.startswith("netc_plugin_blocks"))
    assert len(new) == 2
    assert {sys.modules[m].__file__ for m in new} == set(files)
    load_file(files[0])   # the same file again: the same module name
    assert sorted(m for m in set(sys.modules) - before if m.startswith("netc_plugin_blocks")) == new
