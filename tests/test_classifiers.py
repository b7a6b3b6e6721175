"""The seed classifiers and the notation they need: counts against the reference Keras models, every
registered block lowered, RepVGG's training and deployed forms agreeing in float64, `netc check`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from netc.blocks import REGISTRY
from netc.cli import main
from netc.compiler import check_spec, compile
from netc.diagnostics import NetcError
from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.passes import DEPLOY, run_passes
from netc.ir.verify import verify_graph
from netc.ir.weights import init_weights
from netc.registry import Args, FlagKind

from conftest import BOTH_FORMS, assert_torch_column, spec_path

# Parameter counts printed by the reference models (keras.applications 3.15.1 `count_params()`, weights=None;
# RepVGG-A0 from seed 004's code), in the tables of docs/reference-models/ of the refs helper.
CLASSIFIERS = {
    "mobilenet_v2_140.net": (6_156_712, 6_108_776),
    "mobilenet_v3_large.net": (5_507_432, 5_483_032),
    "resnet50.net": (25_636_712, 25_583_592),
    "repvgg_a0.net": (9_132_616, 9_108_968),
}


def _summary(capsys, *args) -> dict:
    with pytest.raises(SystemExit) as e:
        main(["summary", "--json", *args])
    assert e.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("spec", sorted(CLASSIFIERS))
def test_classifier_counts_and_output_shape(spec, capsys):
    params, trainable = CLASSIFIERS[spec]
    data = _summary(capsys, spec_path(spec))
    assert (data["params"], data["trainable_params"]) == (params, trainable)
    assert data["outputs"] == [{"name": "backbone", "shape": [None, 1000]}]


def test_repvgg_a0_deployed_count(capsys):
    data = _summary(capsys, "--deploy", spec_path("repvgg_a0.net"))
    assert data["params"] == 8_309_384 and data["non_trainable_params"] == 0
    assert data["outputs"] == [{"name": "backbone", "shape": [None, 1000]}]


def test_resnet50_layer_facts():
    """Keras ResNet50's stem pads 3 then a VALID 7x7 conv with bias, pads 1 then a VALID max pool; 53 convs
    with bias, 53 BNs of epsilon 1.001e-5, 16 adds."""
    g = check_spec(spec_path("resnet50.net")).graph
    prims = [n.prim.value for n in g.nodes]
    assert prims[1:6] == ["pad", "conv", "batchnorm", "relu", "pad"]
    assert g.nodes[1].attrs["pads"] == (3, 3, 3, 3) and g.nodes[5].attrs["pads"] == (1, 1, 1, 1)
    convs = [n for n in g.nodes if n.prim.value == "conv"]
    bns = [n for n in g.nodes if n.prim.value == "batchnorm"]
    assert len(convs) == 53 and all("bias" in n.weights for n in convs)
    assert len(bns) == 53 and {n.attrs["epsilon"] for n in bns} == {1.001e-5}
    assert prims.count("add") == 16 and g.nodes[2].attrs["padding"] == "valid"


def test_mobilenet_v3_large_gate_and_momentum():
    g = check_spec(spec_path("mobilenet_v3_large.net")).graph
    gates = [n for n in g.nodes if n.name.endswith("gate_scale")]
    assert len(gates) == 8 and {n.attrs["scale"] for n in gates} == {1.0 / 6.0}
    assert {n.attrs["momentum"] for n in g.nodes if n.prim.value == "batchnorm"} == {0.999}
    assert sum(n.prim.value == "dropout" for n in g.nodes) == 1


# ----------------------------------------------------------------------------- every block type
def _example(btype) -> str:
    """The block string with every required argument (values the argument kinds propose, `c8`)."""
    parts = [btype.code]
    for code, p in btype.params.items():
        if p.required:
            parts.append("c8" if code == "c" else REGISTRY.arg_codes[code].kind.example(code))
    return "_".join(parts)


@pytest.mark.parametrize("code", sorted(REGISTRY.blocks))
def test_every_block_type_lowers_on_a_sample_input(code):
    """Every registered block lowers (on an image, or a feature vector for `fc`) with its required arguments
    and again with r2 and s2 where it takes them; the verifier passes; the interpreter runs it; the
    output keeps the batch; leaving out a required argument is a located error."""
    btype = REGISTRY.blocks[code]
    c = getattr(btype, "example_channels", 8)   # `imnorm` normalizes RGB images
    shape = (None, 12, 12, c) if btype.example_rank == 4 else (None, c)
    texts = [_example(btype)]
    extra = [a for a in ("r2", "s2") if a[0] in btype.params and not btype.params[a[0]].required]
    if extra:
        texts.append("_".join([texts[0], *extra]))
    for text in texts:
        net = f"input x# {'x'.join(map(str, shape[1:-1])) or '1x1'}x{shape[-1]}\nb#:\n    select:x#\n"
        if btype.example_rank == 2:
            net += "    gap\n"
        net += f"    {text}\noutput b#\n"
        m = compile(net, randomize=True)
        verify_graph(m.graph, m.weights)
        out = m.graph.outputs[0][1]
        assert out.shape[0] is None
        x = np.random.default_rng(0).normal(size=(2, *(shape[1:-1] or (1, 1)), shape[-1])).astype(np.float32)
        y = interp.run(m.graph, m.weights, {"x": x})["b"]
        assert y.shape == (2, *out.shape[1:]) and np.all(np.isfinite(y))
    for pcode, p in btype.params.items():
        if p.required:
            bare = "_".join(t for t in texts[0].split("_") if not t.startswith(pcode) or t == code)
            with pytest.raises(NetcError, match=f"needs argument `{pcode}`"):
                check_spec(f"input x# 12x12x{c}\nb#:\n    select:x#\n    {bare}\noutput b#\n")


def test_every_block_reads_only_its_declared_arguments():
    """Args raise AttributeError on an undeclared code: lowering every block with all its optional arguments
    set (flags on, values from the kinds) finds a typo in any block's ``lower``."""
    for code, btype in REGISTRY.blocks.items():
        b = Builder()
        c = getattr(btype, "example_channels", 8)
        x = b.input("x", (None, 12, 12, c) if btype.example_rank == 4 else (None, c))
        values = {c: p.default for c, p in btype.params.items()}
        values.update({c: True for c in btype.params if isinstance(REGISTRY.arg_codes[c].kind, FlagKind)})
        values.update({"c": 8, "k": 3, "p": 1, "se": 4})
        from netc.ast import ArgToken, Block
        from netc.diagnostics import Span
        from netc.registry import Limits
        span = Span("<t>", 1, 1)
        for c, p in btype.params.items():   # other required arguments: the value their kind proposes
            if p.required and values.get(c) is None:
                text = REGISTRY.arg_codes[c].kind.example(c)
                values[c] = REGISTRY._value(REGISTRY.arg_codes[c], text[len(c):], ArgToken(text, span), Limits())
        a = Args({c: v for c, v in values.items() if c in btype.params}, {}, Block(code, span, "layer", code, span))
        if "dr" in btype.params:
            a = a.replace(dr=0.5)
        if "n" in btype.params and values.get("n") is None and btype.params["n"].required:
            a = a.replace(n=REGISTRY.activations["re"])
        btype.lower(b, a, x)
        verify_graph(b.graph)


# ----------------------------------------------------------------------------- notation details
def _graph(body: str, size: str = "8x8x4"):
    return check_spec(f"input x# {size}\nb#:\n    select:x#\n{body}\noutput b#\n").graph


def test_add_op_sums_three_references():
    g = _graph("    a#cn_k3_c4\n    c#cn_k1_c4\n    add:x#:a#:c#")
    add = g.nodes[-1]
    assert add.prim.value == "add" and len(add.inputs) == 3
    w = init_weights(g, 1, randomize=True)
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 4))
    env = interp.run(g, w, {"x": x}, dtype=np.float64)
    assert env["b"].shape == (1, 8, 8, 4)


def test_resize_factor_and_mode():
    g = _graph("    resize_f3_inearest", "2x2x1")
    assert g.nodes[-1].out.shape == (None, 6, 6, 1) and g.nodes[-1].attrs["mode"] == "nearest"
    y = interp.run(g, {}, {"x": np.arange(4.0).reshape(1, 2, 2, 1)})["b"][0, :, :, 0]
    np.testing.assert_array_equal(y[:3, :3], 0)
    np.testing.assert_array_equal(y[3:, 3:], 3)
    assert _graph("    up_x2:", "2x2x1").nodes[-1].attrs == {"scale": (2, 2), "mode": "bilinear"}


def test_grouped_conv_and_padding_arguments():
    g = _graph("    cn_k3_s2_c8_g4_p1", "9x9x4")
    pad, conv = g.nodes[-2], g.nodes[-1]
    assert pad.attrs["pads"] == (1, 1, 1, 1) and conv.attrs["padding"] == "valid"
    assert conv.weights["kernel"].shape == (3, 3, 1, 8) and conv.out.shape == (None, 5, 5, 8)
    with pytest.raises(NetcError, match="not divisible into 3 groups"):
        _graph("    cn_k3_c8_g3")


def test_residual_blocks_project_only_when_the_shape_changes():
    def convs(body, size="8x8x16"):
        return [n.name.rsplit("/", 1)[-1] for n in _graph(body, size).nodes if n.prim.value == "conv"]
    assert convs("    res_c16") == ["conv1_conv", "conv2_conv"]
    assert convs("    res_s2_c16")[0] == "shortcut_conv"
    assert convs("    bt_c16") == ["conv1_conv", "conv2_conv", "conv3_conv"]
    assert convs("    bt_c32")[0] == "shortcut_conv"
    g = _graph("    bt_c64_e0.5_g4", "8x8x64")
    k2 = next(n for n in g.nodes if n.name.endswith("conv2_conv")).weights["kernel"]
    assert k2.shape == (3, 3, 8, 32)


def test_repvgg_block_branches():
    g = _graph("    rv_c4", "8x8x4")
    assert [n.prim.value for n in g.nodes[1:]] == ["batchnorm", "conv", "batchnorm", "conv", "batchnorm",
                                                   "add", "relu"]
    assert len(g.nodes[-2].inputs) == 3
    g = _graph("    rv_s2_c8_g2", "8x8x4")
    assert len(g.nodes[-2].inputs) == 2
    one = next(n for n in g.nodes if n.name.endswith("1x1_conv"))
    assert one.attrs["padding"] == "valid" and one.attrs["groups"] == 2


def test_bad_new_arguments_are_located_errors():
    for body, msg in [("    dropout_dr1", "must be below 1"), ("    cn_k3_c4_bn_eps0", "must be greater than 0"),
                      ("    resize_icubic", "takes one of bilinear, nearest"), ("    ir_k3_c4_gatex", "takes one of"),
                      ("    cn_k3_c4_eps1e", "needs a decimal number"), ("    fc_c4", "needs a feature tensor")]:
        with pytest.raises(NetcError, match=msg) as e:
            _graph(body)
        assert e.value.span.line == 4


# ----------------------------------------------------------------------------- RepVGG re-parameterisation
REPVGG_TWIN = """input img# 32x32x3
backbone#:
    select:img#
    rv_s2_c16
    rv_r2_s2_c16
    rv_r3_s2_c32_g2
    rv_r2_s1_c32_g4
    rv_s2_c64
    gap
    fc_c10
output backbone#
"""


@pytest.mark.parametrize("text", [REPVGG_TWIN, REPVGG_TWIN.replace("32x32x3", "33x33x3")],
                         ids=["even", "odd"])
def test_repvgg_training_and_deployed_forms_agree_in_float64(text):
    """The deploy rewrite is exact: both forms through the interpreter in float64 agree to 1e-12 (relative
    to the output's scale), on even sizes (TF SAME pads (0, 1) at stride 2) and odd ones (pads (1, 1)),
    with grouped blocks; the deployed graph has no BN and one conv per block."""
    m = compile(text, seed=3, randomize=True)
    m.weights = {k: v.astype(np.float64) for k, v in m.weights.items()}   # passes keep float64 weights float64
    graph, weights = run_passes(m.graph, m.weights, DEPLOY)
    assert not any(n.prim.value in ("batchnorm", "add") for n in graph.nodes)
    assert sum(n.prim.value == "conv" for n in graph.nodes) == 9
    x = np.random.default_rng(5).normal(size=(2, *m.graph.inputs[0].shape[1:]))
    ref = interp.run(m.graph, m.weights, {"img": x}, dtype=np.float64)["backbone"]
    got = interp.run(graph, weights, {"img": x}, dtype=np.float64)["backbone"]
    assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) < 1e-12


def test_repvgg_a0_deployed_has_one_conv_per_block():
    m = check_spec(spec_path("repvgg_a0.net"))
    graph, _ = run_passes(m.graph, init_weights(m.graph), DEPLOY)
    convs = [n for n in graph.nodes if n.prim.value == "conv"]
    assert len(convs) == 22 and all(n.attrs["kernel_size"] == (3, 3) and "bias" in n.weights for n in convs)


# ----------------------------------------------------------------------------- netc check
@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.parametrize("spec", sorted(CLASSIFIERS))
def test_check_classifier(spec, capsys, tmp_path):
    """`netc check --deploy` on a 96x96 twin of each classifier (the same blocks): the training form's and the
    deployed form's columns in one run. The tolerance is max(1e-4, 3x the reference's float32 noise):
    ResNet-50's softmax at 96 px is flat enough that float32 noise alone reaches 1.8e-4 of max|ref|."""
    twin = tmp_path / spec
    twin.write_text(open(spec_path(spec)).read().replace("224x224x3", "96x96x3"))
    with pytest.raises(SystemExit) as e:
        main(["check", "--json", str(twin), "--deploy"])
    report = json.loads(capsys.readouterr().out)
    assert e.value.code == 0 and report["ok"], report["failing_outputs"]
    assert BOTH_FORMS <= set(report["columns"]), report["columns"]
    assert_torch_column(report)
    tol = report["tolerance"]
    assert tol["rtol_normalised"] == max(1e-4, 3 * tol["float32_noise"]) <= 1e-3
    assert report["worst_norm"] <= tol["rtol_normalised"]


# ----------------------------------------------------------------------------- width and depth multipliers
MOBILENET_V2_BASE = """width 1.4
input img# 224x224x3
backbone#:
    select:img#
    cn_bn_k3_s2_c32_nr6
    ir_r1_k3_s1_e1_c16_nr6_mom0.999
    ir_r2_k3_s2_e6_c24_nr6_mom0.999
    ir_r3_k3_s2_e6_c32_nr6_mom0.999
    ir_r4_k3_s2_e6_c64_nr6_mom0.999
    ir_r3_k3_s1_e6_c96_nr6_mom0.999
    ir_r3_k3_s2_e6_c160_nr6_mom0.999
    ir_r1_k3_s1_e6_c320_nr6_mom0.999
    cn_bn_k1_c1280_nr6
    gap
    fc_c1000
    softmax
output backbone#
"""


def test_width_multiplier_gives_keras_mobilenet_v2_140():
    """MobileNetV2's alpha=1.0 channels with `width 1.4` are the written-out 1.4 spec, layer for layer
    (Keras rounds with the same make_divisible; the classes are not scaled)."""
    scaled = check_spec(MOBILENET_V2_BASE)
    written = check_spec(spec_path("mobilenet_v2_140.net"))
    assert scaled.params == written.params == 6_156_712
    assert [n.out.shape for n in scaled.graph.nodes] == [n.out.shape for n in written.graph.nodes]


def test_depth_multiplier_scales_repeats_above_one_rounding_up():
    body = "input x# 16x16x8\nb#:\n    select:x#\n    cn_bn_k3_c8\n    ir_r3_k3_c8\n    gap\n    fc_c4\noutput b#\n"

    def copies(text):
        return [b.copies for st in check_spec(text).stacks for b in st.blocks]
    assert copies(body) == [1, 3, 1, 1]
    assert copies("depth 1.5\n" + body) == [1, 5, 1, 1]      # 3 x 1.5 = 4.5 -> 5
    assert copies("depth 0.3\n" + body) == [1, 1, 1, 1]      # 0.9 -> 1
    with pytest.raises(NetcError, match="`depth` is given twice"):
        check_spec("depth 2\ndepth 3\n" + body)
    with pytest.raises(NetcError, match="greater than 0"):
        check_spec("width 0\n" + body)


def test_multipliers_round_trip_through_fmt(tmp_path, capsys):
    src = tmp_path / "m.net"
    src.write_text("width 0.5\ndepth 2\n" + MOBILENET_V2_BASE.split("\n", 1)[1])
    with pytest.raises(SystemExit):
        main(["fmt", str(src), "--to", "yaml"])
    yml = tmp_path / "m.yaml"
    yml.write_text(capsys.readouterr().out)
    assert "width_multiplier: 0.5" in yml.read_text() and "depth_multiplier: 2" in yml.read_text()
    with pytest.raises(SystemExit):
        main(["fmt", str(yml)])
    back = capsys.readouterr().out
    assert back.startswith("width 0.5\ndepth 2\n")
    assert check_spec(str(src)).params == check_spec(str(yml)).params


def test_deployed_onnx_holds_the_deployed_count(tmp_path, capsys):
    """`netc build --deploy`: the ONNX file's weights are the deployed form's (8,309,384 for RepVGG-A0), and the
    message says so."""
    import onnx
    out = tmp_path / "rv.onnx"
    with pytest.raises(SystemExit) as e:
        main(["build", spec_path("repvgg_a0.net"), "--deploy", "-o", str(out)])
    assert e.value.code == 0
    assert "deployed; 8,309,384 parameters" in capsys.readouterr().err
    model = onnx.load(str(out))
    assert sum(int(np.prod(t.dims)) for t in model.graph.initializer) == 8_309_384
    assert [n.op_type for n in model.graph.node].count("Conv") == 22


@pytest.mark.parametrize("head", ["width 1.2 nearest\ndepth 1.4\n", "width 1.2 bounded\n", "width 1.2\n",
                                  "width 1.2 nearest\ndepth 1.4 written\n"])
def test_fmt_keeps_the_width_rounding_word(head, tmp_path):
    """`width 1.2 nearest` and `depth 1.4 written` round-trip through `netc fmt`, both forms (YAML
    `width_rounding: nearest`, `depth_schedule: written`); a word written stays written, none stays none; the
    model is the same."""
    from netc.frontends.fmt import to_net, to_yaml
    from netc.frontends.load import parse_source
    text = head + "input img# 8x8x3\nb#:\n    select:img#\n    cn_k3_c16\noutput b#\n"
    spec = parse_source(text, "w.net")
    assert to_net(spec).startswith(head)
    word = head.split("\n")[0][len("width 1.2 "):]
    yml = to_yaml(spec)
    assert ("width_rounding: " + word in yml) if word else "width_rounding" not in yml
    again = parse_source(yml, "w.yaml")
    assert again.width_rounding == (word or None) and to_net(again).startswith(head)
    assert to_yaml(again) == yml
    assert check_spec(text).params == check_spec(to_net(again)).params
    assert ("depth_schedule: written" in yml) == ("written" in head) and again.depth_schedule == spec.depth_schedule


@pytest.mark.parametrize("value", ["1.2345678", "0.00001", "2", "1.4"])
def test_fmt_keeps_multiplier_values_exactly(value, tmp_path):
    """`netc fmt` prints a multiplier as the decimal it reads back as (never rounded, never `1e-05`), in both
    forms."""
    from netc.frontends.fmt import to_net, to_yaml
    from netc.frontends.load import parse_source
    text = f"width {value}\ninput img# 8x8x3\nb#:\n    select:img#\n    cn_k3_c8\noutput b#\n"
    spec = parse_source(text, "w.net")
    assert to_net(spec).splitlines()[0] == f"width {value}"
    again = parse_source(to_yaml(spec), "w.yaml")
    assert again.width == float(value) and to_net(again).splitlines()[0] == f"width {value}"


def test_map_file_mistakes_are_located(tmp_path):
    from netc.weights.keras_match import read_map
    deep, binary = tmp_path / "deep.yaml", tmp_path / "bin.yaml"
    deep.write_text("[" * 5000 + "]" * 5000)
    binary.write_bytes(b"a: b\n\xff: c\n")
    for path, line in ((deep, 1), (binary, 2)):
        with pytest.raises(NetcError) as err:
            read_map(str(path))
        assert err.value.diagnostics[0].span.line == line
