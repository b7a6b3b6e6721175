"""The front half against independent facts: NOTATION.md's measured counts, hand-computed shapes."""
import json
import subprocess
import sys

import pytest

from netc.cli import main
from netc.compiler import check_spec
from netc.frontends.fmt import to_net, to_yaml
from netc.frontends.load import load_spec, parse_source
from netc.ir.graph import Prim
from netc.semantic.summary import summary_data

from conftest import ROOT, spec_path

FIXTURE_YAML = str(ROOT / "tests/data/tf_netbuilder/mobilenet_v3/model_def.yaml")   # in the repository

OPENPOSE_STACKS = {"backbone#": 803_640, "stage_0#": 1_577_064, "stage_1#": 3_464_096,
                   "stage_2#": 3_573_152, "stage_3#": 3_563_424}


@pytest.mark.parametrize("name", ["openpose.net", "openpose.yaml"])
def test_openpose_counts(name):
    m = check_spec(spec_path(name))
    assert m.params == 12_981_376
    assert {st.name: st.params for st in m.stacks} == OPENPOSE_STACKS
    assert [(n, v.shape) for n, v in m.graph.outputs] == [
        ("stage_0", (None, 28, 28, 38)), ("stage_1", (None, 28, 28, 38)),
        ("stage_2", (None, 28, 28, 38)), ("stage_3", (None, 28, 28, 19))]
    # NOTATION.md: 9,803,136 of the parameters are PReLU alphas (one per H x W x C element)
    assert sum(w.size for w in m.graph.weights if w.role == "alpha") == 9_803_136


@pytest.mark.parametrize("name", ["mobilenet_v3.net", "mobilenet_v3.yaml"])
def test_mobilenet_v3_counts_and_widths(name):
    m = check_spec(spec_path(name))
    assert m.params == 4_226_432
    assert [v.shape for _, v in m.graph.outputs] == [(None, 1, 1, 1280)]
    nodes = m.graph.nodes
    expand = [n.out.shape[-1] for n in nodes if n.name.endswith("expansion_conv")]
    squeeze = [n.out.shape[-1] for n in nodes if n.name.endswith("se/squeeze")]
    # NOTATION.md section 6 (distinct widths in order)
    dedup = lambda xs: [x for i, x in enumerate(xs) if i == 0 or xs[i - 1] != x]  # noqa: E731
    assert dedup(expand) == [64, 72, 120, 240, 200, 184, 480, 672, 960]
    assert expand.count(72) == 2  # layer_3 (24*3) and the first c3 copy (24*3)
    assert dedup(squeeze) == [24, 32, 120, 168, 240]
    trainable = sum(w.size for w in m.graph.weights if w.trainable)
    assert trainable == 4_202_032 and m.params - trainable == 24_400  # fixture README


def test_hand_computed_shapes():
    m = check_spec(spec_path("openpose.net"))
    rows = {(st.name, b.text): b for st in m.stacks for b in st.blocks}
    assert rows[("backbone#", "cn_bn_r1_k3_s2_c16_nhs")].shape == (None, 112, 112, 16)     # ceil(224/2)
    assert rows[("backbone#", "c3#ir_r3_k5_s2_e3_c40_se4_nre")].shape == (None, 28, 28, 40)
    assert rows[("backbone#", "c4#ir_r2_k3_s1_e6_c112_se4_nhs")].shape == (None, 14, 14, 112)
    assert rows[("backbone#", "upscaled_c4#up_x2:")].shape == (None, 28, 28, 112)
    assert rows[("backbone#", "cnct:c3#:upscaled_c4#")].shape == (None, 28, 28, 152)        # 40 + 112
    assert rows[("stage_1#", "cnct:")].shape == (None, 28, 28, 190)                         # 38 + 152
    assert rows[("stage_0#", "cn2_r5_e1_c192_npre")].names == [f"layer_{i}" for i in range(5)]
    # Labels name the last repeat copy; positions count copies and ops (variables.txt naming)
    assert rows[("backbone#", "c3#ir_r3_k5_s2_e3_c40_se4_nre")].names == ["layer_4", "layer_5", "c3"]
    assert rows[("backbone#", "cnct:c3#:upscaled_c4#")].names == ["layer_14"]


def test_same_padding_and_valid_sizes():
    text = ("input x# 7x9x1\nnet#:\n    select:x#\n    cn_k3_s2_c2\n    a#hd_k2_s1_c1\n    avgpool_k2_s2\n"
            "output net# a#\n")
    m = check_spec(text)
    conv = next(n for n in m.graph.nodes if n.prim is Prim.CONV)
    assert conv.out.shape == (None, 4, 5, 2)                 # ceil(7/2), ceil(9/2)
    # TF SAME: total = (out-1)*s + k - in -> rows 2 (1 before, 1 after), cols 2 (1, 1)
    assert conv.attrs["pads"] == (1, 1, 1, 1)
    outs = dict((n, v.shape) for n, v in m.graph.outputs)
    assert outs["a"] == (None, 3, 4, 1)                      # VALID: (4-2)//1+1, (5-2)//1+1
    assert outs["net"] == (None, 1, 2, 1)                    # (3-2)//2+1, (4-2)//2+1


def test_twins_give_identical_summaries():
    for base in ("openpose", "mobilenet_v3"):
        a = summary_data(check_spec(spec_path(base + ".net")))
        b = summary_data(check_spec(spec_path(base + ".yaml")))
        for d in (a, b):
            d.pop("file")
            for i in d["inputs"]:
                i.pop("line")
            for st in d["stacks"]:
                for blk in st["blocks"]:
                    blk.pop("line"), blk.pop("col")
        assert a == b


@pytest.mark.parametrize("name", ["openpose.net", "mobilenet_v3.net", "openpose.yaml", "mobilenet_v3.yaml"])
def test_fmt_round_trips(name):
    spec = load_spec(spec_path(name))
    net = to_net(spec)
    yml = to_yaml(spec)
    # idempotent, and each form converts to the other and back without loss
    assert to_net(parse_source(net, "a.net")) == net
    assert to_yaml(parse_source(yml, "a.yaml")) == yml
    assert to_yaml(parse_source(net, "b.net")) == yml
    assert to_net(parse_source(yml, "b.yaml")) == to_net(parse_source(to_net(parse_source(yml, "c.yaml")), "c.net"))
    if name.endswith(".net"):  # canonical files are their own fmt, comments included
        assert net == open(spec_path(name)).read()


def test_fixture_yaml_round_trip():
    spec = load_spec(FIXTURE_YAML)
    net = to_net(spec)
    again = parse_source(to_yaml(parse_source(net, "x.net")), "x.yaml")
    assert [(s.name, [[b.text for b in g] for g in s.lines]) for s in again.stacks] == \
        [(s.name, [[b.text for b in g] for g in s.lines]) for s in spec.stacks]
    assert check_spec(FIXTURE_YAML).params == 4_226_432


def test_summary_cli_table_and_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["summary", spec_path("openpose.net")])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "12,981,376" in out and "803,640" in out and "Nx28x28x19" in out
    with pytest.raises(SystemExit):
        main(["summary", "--json", spec_path("openpose.net")])
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 12_981_376
    assert [s["params"] for s in data["stacks"]] == list(OPENPOSE_STACKS.values())
    assert data["outputs"][3] == {"name": "stage_3", "shape": [None, 28, 28, 19]}


def test_openpose_at_200_fails_at_the_backbone_cnct(tmp_path, capsys):
    text = open(spec_path("openpose.net")).read().replace("224x224x3", "200x200x3")
    p = tmp_path / "op200.net"
    p.write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["summary", str(p)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "cnct:c3#:upscaled_c4#" in ln)
    assert err.startswith(f"{p}:{line}:5: error: concat: spatial sizes differ: `c3#` is 25x25")
    assert "`upscaled_c4#` is 26x26" in err
    assert "Traceback" not in err


_NO_TF = """
import sys, time
from netc.cli import main
t = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert e.code == 0, e.code
heavy = sorted(m for m in ("tensorflow", "keras", "tf2onnx", "onnxruntime", "onnx", "torch", "google.protobuf")
               if m in sys.modules)
print("HEAVY", heavy, "TIME", time.perf_counter() - t)
"""


def _run_in_process(*args):
    r = subprocess.run([sys.executable, "-c", _NO_TF, *args], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_summary_imports_no_tensorflow_nor_onnxruntime():
    out = _run_in_process("summary", spec_path("openpose.net"))
    assert "HEAVY []" in out


def test_onnx_build_imports_no_framework_nor_onnx(tmp_path):
    out = _run_in_process("build", spec_path("openpose.net"), "-o", str(tmp_path / "m.onnx"))
    assert "HEAVY []" in out   # the protobuf messages are encoded by netc/backends/onnx/wire.py
    # the 3.1M float32 conv kernels (12.4 MB); the default all-zero PReLU slopes become LeakyRelu attributes
    assert (tmp_path / "m.onnx").stat().st_size > 12_400_000


def test_dynamic_input_size():
    text = "input img#norm05 ?x?x3\nnet#:\n    select:img#\n    cn_bn_k3_s2_c8_nre\n    ir_k3_s2_e2_c8_se4_nhs\noutput net#\n"
    m = check_spec(text)
    assert m.graph.outputs[0][1].shape == (None, None, None, 8)
    assert to_yaml(parse_source(text, "d.net")).endswith("input_size: null\n")
