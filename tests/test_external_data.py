"""ONNX external data (`netc build --external-data`, automatic past protobuf's 2 GiB): the weights go to
`<out>.data` as the model is made; onnxruntime reads the same numbers; output is deterministic and atomic."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import netc
from netc.backends.onnx import external
from netc.cli import main
from netc.compiler import check_spec
from netc.registry import Limits
from tests.conftest import ROOT, spec_path


def _outputs(path: str, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def _external_entries(path: str) -> list[tuple[str, dict]]:
    model = onnx.load(path, load_external_data=False)
    return [(t.name, {e.key: e.value for e in t.external_data}) for t in model.graph.initializer
            if t.data_location == onnx.TensorProto.EXTERNAL]


def test_external_data_matches_embedded_model(tmp_path) -> None:
    model = netc.compile(spec_path("openpose.net"), randomize=True)
    inside, outside = str(tmp_path / "in.onnx"), str(tmp_path / "out.onnx")
    model.to_onnx(inside, external_data=False)
    model.to_onnx(outside, external_data=True)
    assert not os.path.exists(inside + ".data") and os.path.getsize(outside) < 300_000
    onnx.checker.check_model(outside)

    # every initializer of 1 KiB or more is outside, at a 4096-aligned offset, none overlapping
    embedded = {t.name: numpy_helper.to_array(t) for t in onnx.load(inside).graph.initializer}
    entries = _external_entries(outside)
    big = {n for n, a in embedded.items() if a.nbytes >= 1024}
    assert {n for n, _ in entries} == big and len(big) > 100
    spans = sorted((int(e["offset"]), int(e["length"])) for _, e in entries)
    assert all(off % 4096 == 0 for off, _ in spans)
    assert all(a + n <= b for (a, n), (b, _) in zip(spans, spans[1:]))
    assert spans[-1][0] + spans[-1][1] == os.path.getsize(outside + ".data")
    assert {e["location"] for _, e in entries} == {"out.onnx.data"}

    # onnx reads back the same tensors, onnxruntime computes the same bits
    loaded = {t.name: numpy_helper.to_array(t) for t in onnx.load(outside).graph.initializer}
    assert loaded.keys() == embedded.keys()
    assert all(np.array_equal(loaded[k], embedded[k]) for k in embedded)
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 224, 224)).astype(np.float32)
    for a, b in zip(_outputs(inside, x), _outputs(outside, x)):
        assert np.array_equal(a, b)


def test_external_data_is_byte_identical_and_atomic(tmp_path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        with pytest.raises(SystemExit) as exit_:
            main(["build", spec_path("mobilenet_v3.net"), "-o", str(tmp_path / d / "m.onnx"), "--external-data"])
        assert exit_.value.code == 0
        assert sorted(os.listdir(tmp_path / d)) == ["m.onnx", "m.onnx.data"]   # no temporary files left
    for name in ("m.onnx", "m.onnx.data"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_external_data_flag_needs_the_direct_onnx_route(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["build", spec_path("mobilenet_v3.net"), "-o", str(tmp_path / "m.keras"), "--external-data"])
    assert exit_.value.code == 2
    assert "`--external-data` does not apply to the keras backend (it applies to onnx)" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_automatic_past_the_limit(tmp_path, monkeypatch) -> None:
    from netc.backends import ONNX
    model = netc.compile(spec_path("mobilenet_v3.net"))
    _, emitted = ONNX.lower(model.graph, model.weights)      # BNs folded: what the file holds, in float32
    weight_bytes = 4 * sum(a.size for a in emitted.values())
    monkeypatch.setattr(external, "EXTERNAL_AUTO_BYTES", weight_bytes - 1)
    model.to_onnx(str(tmp_path / "auto.onnx"))
    assert os.path.exists(tmp_path / "auto.onnx.data")
    model.to_onnx(str(tmp_path / "forced.onnx"), external_data=False)
    assert not os.path.exists(tmp_path / "forced.onnx.data")
    monkeypatch.setattr(external, "EXTERNAL_AUTO_BYTES", weight_bytes)
    model.to_onnx(str(tmp_path / "under.onnx"))
    assert not os.path.exists(tmp_path / "under.onnx.data")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch) -> None:
    calls = []
    add = external.ExternalData.add

    def failing(self, t, arr):
        calls.append(t.name)
        if len(calls) == 5:
            raise OSError("disk full")
        return add(self, t, arr)

    monkeypatch.setattr(external.ExternalData, "add", failing)
    with pytest.raises(OSError, match="disk full"):
        netc.compile(spec_path("mobilenet_v3.net")).to_onnx(str(tmp_path / "m.onnx"), external_data=True)
    assert os.listdir(tmp_path) == []


# A spec of 2.25 GiB of float32 weights (five 3x3 convs, four of 4096 -> 4096 channels, 576 MiB each: ONNX
# Runtime's layout pass copies each kernel into an initializer of its own, which it must embed, so no single
# tensor may reach 2 GiB). A 1x1 input keeps the arithmetic small: SAME padding leaves only the centre taps.
BIG_SPEC = """\
input img# 1x1x4

big#:
    select:img#
    cn_k3_c4096
    cn_r4_k3_c4096

output big#
"""

_BUILD = textwrap.dedent("""
    import json, resource, subprocess, sys
    proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"rc": proc.returncode, "stderr": proc.stderr[-2000:], "peak": peak}))
""")


@pytest.mark.slow
def test_model_past_2_gib_builds_within_memory_and_runs(tmp_path) -> None:
    spec, out = tmp_path / "big.net", str(tmp_path / "big.onnx")
    spec.write_text(BIG_SPEC)
    cmd = [sys.executable, "-c", "from netc.cli import main; main()", "build", str(spec), "-o", out,
           "--limit", "params=700000000"]   # no --external-data: chosen because the model passes 2 GiB
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = json.loads(subprocess.run([sys.executable, "-c", _BUILD, *cmd], capture_output=True, text=True,
                                    env=env, check=True).stdout)
    assert res["rc"] == 0, res["stderr"]
    checked = check_spec(BIG_SPEC, limits=Limits(params=700_000_000))
    weight_bytes = 4 * checked.params
    assert weight_bytes > 2**31
    assert res["peak"] <= 2 * weight_bytes + 150 * 2**20, f"peak {res['peak'] / 2**20:.0f} MiB"
    data = out + ".data"
    assert os.path.getsize(out) < 10_000 and os.path.getsize(data) >= weight_bytes

    # the kernels in the file, read by the offsets the model gives: centre taps, ONNX layout (O, I, 3, 3)
    stubs = {t.name: t for t in onnx.load(out, load_external_data=False).graph.initializer}
    entries = dict(_external_entries(out))
    kernels = sorted((n for n in entries if n.endswith("kernel")), key=lambda n: int(entries[n]["offset"]))
    last = entries[kernels[-1]]
    assert len(kernels) == 5 and int(last["offset"]) + int(last["length"]) > 2**31   # data past 2 GiB
    raw = np.memmap(data, dtype="<f4", mode="r")
    taps = []
    for name in kernels:
        start, length = int(entries[name]["offset"]), int(entries[name]["length"])
        taps.append(np.array(raw[start // 4: (start + length) // 4].reshape(tuple(stubs[name].dims))[:, :, 1, 1]))
    del raw
    # the last one holds netc's weights for the last conv (IR layout HWIO: its tap [1, 1] is (I, O))
    from netc.ir.weights import init_value
    last_conv = [n for n in checked.graph.nodes if n.prim.value == "conv"][-1]
    assert np.array_equal(init_value(last_conv.weights["kernel"], 0)[1, 1].T, taps[-1])

    x = np.random.default_rng(0).normal(size=(1, 4)).astype(np.float32)
    ref = x.astype(np.float64)
    for tap in taps:                    # biases are zero at default initialisation
        ref = ref @ tap.T.astype(np.float64)
    (y,) = _outputs(out, x.reshape(1, 4, 1, 1))
    np.testing.assert_allclose(y.reshape(1, -1), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
