"""ONNX backend: onnxruntime against the numpy interpreter, model validity, layout, determinism."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import netc
from faults import FAULTS
from netc.backends import ONNX
from netc.backends import onnx as onnx_backend
from netc.backends.onnx import save_onnx
from netc.diagnostics import NetcError, Span
from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.graph import Graph, Origin, Prim
from netc.ir.passes import fold_batchnorm, run_passes
from netc.ir.weights import init_weights


def lower(graph, weights, *, fold_bn: bool = True, fault: str | None = None, **options):
    """The graph the ONNX backend emits: its passes (without BN folding if asked, with a planted fault)."""
    passes = [p for p in ONNX.lowering_passes(**options) if fold_bn or p is not fold_batchnorm]
    if fault is not None:
        passes.insert(0, FAULTS[fault])
    return run_passes(graph, weights, passes)


def to_onnx(graph, weights, *, fold_bn: bool = True, fault: str | None = None, **options):
    """What `netc build` emits for ``graph``: the ONNX backend's passes, then its emitter."""
    g, w = lower(graph, weights, fold_bn=fold_bn, fault=fault, **options)
    return onnx_backend.to_onnx(g, w, **options)

TOL = 1e-5


# ----------------------------------------------------------------------------- graphs
def g_conv_bn_hswish() -> Graph:
    b = Builder("stem")
    x = b.input("image", (None, 9, 9, 3))
    y = b.hardswish(b.batchnorm(b.conv(x, 8, 3, 2, name="conv"), name="bn"), name="hs")
    y = b.batchnorm(b.depthwise(y, 5, 2), name="dw_bn")
    b.output("features", b.relu(y, 6.0, name="relu6"))
    return b.graph


def g_bias_prelu() -> Graph:
    b = Builder("prelu")
    x = b.input("x", (None, 16, 16, 8))
    y = b.relu(b.conv(x, 8, 3, 1, bias=True, name="c1"), 6.0)
    y = b.prelu(b.conv(y, 8, 1, name="c2"), name="pre")
    y = b.conv(y, 6, 3, 2, groups=2, name="grouped")
    b.output("y", b.prelu(y, name="prc", per_channel=True))
    return b.graph


def g_se() -> Graph:
    b = Builder("se")
    x = b.input("x", (None, 16, 16, 8))
    s = b.global_avgpool(x, name="squeeze")
    s = b.relu(b.conv(s, 4, 1, bias=True, name="reduce"), name="r1")
    s = b.conv(s, 8, 1, bias=True, name="expand")
    s = b.affine(b.relu(b.affine(s, 1.0, 3.0, name="plus3"), 6.0, name="r6"), 0.16667, 0.0, name="div6")
    b.output("y", b.mul(x, s, name="excite"))
    return b.graph


def g_fpn() -> Graph:
    b = Builder("fpn")
    x = b.input("x", (None, 8, 8, 4))
    lo = b.pool("max", x, 2, 2, "valid", name="down")
    up = b.resize(b.conv(lo, 4, 1, name="lat"), 2, "bilinear", name="up")
    nn = b.resize(b.pool("avg", x, 2, 2, "valid", name="avg"), 2, "nearest", name="up_nn")
    y = b.concat([b.add(x, up, name="residual"), nn], name="cat")
    y = b.swish(b.conv(y, 6, 3, name="mix"), name="sw")
    b.output("y", b.sigmoid(b.affine(y, 2.0, -0.5, name="aff"), name="sig"))
    b.output("low", lo)
    return b.graph


def g_odd() -> Graph:
    """7x7 and 25x25 with stride 2: asymmetric SAME pads in conv and pools."""
    b = Builder("odd")
    a = b.input("a", (None, 7, 7, 2))
    c = b.input("c", (None, 25, 25, 3))
    ya = b.pool("avg", b.conv(a, 4, 2, 2, name="ca"), 3, 2, "same", name="pa")
    yc = b.pool("max", b.depthwise(c, 3, 2, name="dc"), 2, 2, "same", name="pc")
    yc = b.batchnorm(b.conv(yc, 4, 4, 2, name="cc"), name="bc")
    b.output("ya", ya)
    b.output("yc", yc)
    return b.graph


def g_dynamic() -> Graph:
    b = Builder("dyn")
    x = b.input("x", (None, None, None, 3))
    y = b.batchnorm(b.conv(x, 4, 3, 2, name="c"), name="bn")
    y = b.pool("avg", y, 3, 2, "same", name="p")
    b.output("y", b.resize(b.prelu(y, per_channel=True), 2, "bilinear"))
    return b.graph


GRAPHS = {f.__name__[2:]: f for f in (g_conv_bn_hswish, g_bias_prelu, g_se, g_fpn, g_odd, g_dynamic)}
DYNAMIC_SIZES = {"x": (2, 13, 11, 3)}


# ----------------------------------------------------------------------------- helpers
def _inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        shape = DYNAMIC_SIZES[v.name] if None in v.shape[1:] else (2,) + tuple(v.shape[1:])
        out[v.name] = rng.normal(size=shape).astype(np.float32)
    return out


def _ort(model: onnx.ModelProto, graph: Graph, feeds: dict[str, np.ndarray], layout: str) -> dict:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    if layout == "nchw":
        feeds = {k: v.transpose(0, 3, 1, 2) for k, v in feeds.items()}
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    return {k: (v.transpose(0, 2, 3, 1) if layout == "nchw" else v) for k, v in outs.items()}


def _rel_diff(model: onnx.ModelProto, graph: Graph, weights: dict, layout: str = "nchw") -> float:
    """max over outputs of max|onnx - interp| / max|interp|."""
    feeds = _inputs(graph)
    ref = interp.run(graph, weights, feeds)
    got = _ort(model, graph, feeds, layout)
    assert set(got) == set(ref)
    return max(float(np.abs(got[k] - ref[k]).max() / np.abs(ref[k]).max()) for k in ref)


def _case(name: str) -> tuple[Graph, dict]:
    graph = GRAPHS[name]()
    return graph, init_weights(graph, seed=7, randomize=True)


def _dims(vi: onnx.ValueInfoProto) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in vi.type.tensor_type.shape.dim]


def _matches(ir_shape, onnx_dims) -> bool:
    n, h, w, c = ir_shape
    expected = [n, c, h, w]
    return all(e == d or (e is None and not isinstance(d, int)) or (i == 0 and d == "N")
               for i, (e, d) in enumerate(zip(expected, onnx_dims))) and len(onnx_dims) == 4


# ----------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_onnxruntime_matches_interpreter(name, layout):
    graph, weights = _case(name)
    model = to_onnx(graph, weights, io_layout=layout)
    assert _rel_diff(model, graph, weights, layout) <= TOL


@pytest.mark.parametrize("opset", [11, 13, 14, 17, 18])
def test_opsets(opset):
    graph, weights = _case("conv_bn_hswish")
    model = to_onnx(graph, weights, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    assert ("HardSwish" in ops) == (opset >= 14)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    assert model.ir_version == helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    assert _rel_diff(model, graph, weights) <= TOL
    fpn, wf = _case("fpn")
    assert _rel_diff(to_onnx(fpn, wf, opset=opset), fpn, wf) <= TOL


def test_folded_and_unfolded_bn_agree():
    graph, weights = _case("conv_bn_hswish")
    folded = to_onnx(graph, weights)
    plain = to_onnx(graph, weights, fold_bn=False)
    ops_f = [n.op_type for n in folded.graph.node]
    ops_p = [n.op_type for n in plain.graph.node]
    assert "BatchNormalization" not in ops_f and ops_p.count("BatchNormalization") == 2
    bn = next(n for n in plain.graph.node if n.op_type == "BatchNormalization")
    assert helper.get_attribute_value(bn.attribute[0]) == pytest.approx(1e-3)
    feeds = _inputs(graph)
    a, b = _ort(folded, graph, feeds, "nchw"), _ort(plain, graph, feeds, "nchw")
    for k in a:
        assert np.abs(a[k] - b[k]).max() / np.abs(b[k]).max() <= TOL
    assert _rel_diff(plain, graph, weights) <= TOL


def test_sum_of_branches_is_a_chain_of_adds():
    """Three or more inputs become ((x0 + x1) + x2) + ..., each Add fusable into the convolution producing one
    of its inputs (onnxruntime leaves ONNX's Sum unfused); same values as the interpreter."""
    b = Builder()
    x = b.input("x", (None, 6, 6, 4))
    branches = [b.conv(x, 4, k, name=f"c{k}") for k in (3, 1)] + [b.batchnorm(x, name="id")]
    b.output("y", b.relu(b.add_n(branches, name="sum")))
    weights = init_weights(b.graph, 2, randomize=True)
    model = to_onnx(b.graph, weights)
    adds = [n for n in model.graph.node if n.op_type == "Add"]
    assert "Sum" not in {n.op_type for n in model.graph.node} and len(adds) == 2
    assert adds[1].input[0] == adds[0].output[0]                      # left to right, as the IR sums
    assert _rel_diff(model, b.graph, weights) <= TOL


def test_bn_not_folded_when_conv_output_is_shared():
    b = Builder()
    x = b.input("x", (None, 6, 6, 3))
    c = b.conv(x, 3, 3, name="c")
    b.output("y", b.add(b.batchnorm(c), c))
    weights = init_weights(b.graph, 1, randomize=True)
    model = to_onnx(b.graph, weights)
    assert "BatchNormalization" in [n.op_type for n in model.graph.node]
    assert _rel_diff(model, b.graph, weights) <= TOL


def test_se_gate_folds_into_the_excite_conv():
    """relu6(conv + 3) * 0.16667 is emitted as one Conv (shift and scale in its weights) and a Clip."""
    graph, weights = _case("se")
    model = to_onnx(graph, weights)
    assert [n.op_type for n in model.graph.node] == ["GlobalAveragePool", "Conv", "Relu", "Conv", "Clip", "Mul"]
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert float(inits[clip.input[2]]) == pytest.approx(6 * 0.16667)
    assert _rel_diff(model, graph, weights) <= TOL
    plain = to_onnx(graph, weights, fold_bn=False)
    assert [n.op_type for n in plain.graph.node].count("Add") == 1 and _rel_diff(plain, graph, weights) <= TOL


# ----------------------------------------------------------------------------- validity
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_model_is_valid_and_shapes_match_ir(name, layout):
    graph, weights = _case(name)
    model = to_onnx(graph, weights, io_layout=layout)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    infos = {vi.name: _dims(vi) for vi in [*inferred.value_info, *inferred.output]}
    checked = 0
    for node in graph.nodes:
        if node.prim is not Prim.INPUT and node.out.name in infos:
            assert _matches(node.out.shape, infos[node.out.name]), node.name
            checked += 1
    lowered, _ = lower(graph, weights, io_layout=layout)
    ir_shapes = {n.out.name: n.out.shape for n in lowered.nodes if n.prim is not Prim.INPUT}
    emitted = [name for name in ir_shapes if name in infos]
    for name in emitted:
        assert _matches(ir_shapes[name], infos[name]), name
    # every value the lowered graph keeps is in the ONNX graph under its own name, except outputs (NCHW: renamed)
    assert len(emitted) >= len(ir_shapes) - (len(graph.outputs) if layout == "nchw" else 0)
    for out_name, v in graph.outputs:
        dims = infos[out_name]
        assert _matches(v.shape, dims if layout == "nchw" else [dims[0], dims[3], dims[1], dims[2]])


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_io_names_layout_and_transposes(name):
    graph, weights = _case(name)
    nchw = to_onnx(graph, weights)
    nhwc = to_onnx(graph, weights, io_layout="nhwc")
    for model in (nchw, nhwc):
        assert [i.name for i in model.graph.input] == [v.name for v in graph.inputs]
        assert [o.name for o in model.graph.output] == [n for n, _ in graph.outputs]
        for io in (*model.graph.input, *model.graph.output):
            assert io.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
            assert _dims(io)[0] == "N"
    assert [n.op_type for n in nchw.graph.node].count("Transpose") == 0
    assert [n.op_type for n in nhwc.graph.node].count("Transpose") == len(graph.inputs) + len(graph.outputs)
    v = graph.inputs[0]
    assert _dims(nchw.graph.input[0])[1] == v.shape[3]
    assert _dims(nhwc.graph.input[0])[3] == v.shape[3]


def test_dynamic_spatial_dims_are_named_and_use_auto_pad():
    graph, weights = _case("dynamic")
    model = to_onnx(graph, weights)
    assert _dims(model.graph.input[0]) == ["N", 3, "x_H", "x_W"]
    assert _dims(model.graph.output[0]) == ["N", 4, "y_H", "y_W"]
    pads = {helper.get_attribute_value(a) for n in model.graph.node for a in n.attribute if a.name == "auto_pad"}
    assert pads == {b"SAME_UPPER"}


def test_explicit_pads_in_onnx_order():
    graph, weights = _case("odd")
    model = to_onnx(graph, weights)
    pads = {n.name: helper.get_attribute_value(a) for n in model.graph.node for a in n.attribute if a.name == "pads"}
    ir = {n.name: list(n.attrs["pads"]) for n in graph.nodes if "pads" in n.attrs}
    assert pads["ca"] == ir["ca"] == [0, 0, 1, 1]         # 7x7, k2 s2: extra pixel at the end
    assert pads == {k: ir[k] for k in pads}


def test_node_names_and_doc_strings():
    b = Builder()
    b.origin = Origin(Span("net.yaml", 4, 7), "backbone", "c1", "conv_k3s2_bn_hs")
    x = b.input("x", (None, 8, 8, 3))
    y = b.swish(b.batchnorm(b.conv(x, 4, 3, 2)))
    b.origin = Origin(None, "backbone", "c2", "up_x2")
    b.output("y", b.resize(y))
    model = to_onnx(b.graph, init_weights(b.graph, 0))
    names = [n.name for n in model.graph.node]
    assert len(names) == len(set(names))
    ir_names = {n.name for n in b.graph.nodes if n.prim not in (Prim.INPUT, Prim.BATCHNORM)}
    assert ir_names <= set(names)
    docs = {n.name: n.doc_string for n in model.graph.node}
    assert docs["backbone/c1/conv"] == "net.yaml:4:7: conv_k3s2_bn_hs"
    assert docs["backbone/c2/resize"] == "up_x2"
    assert model.producer_name == "netc" and model.producer_version == netc.__version__


def test_missing_prim_raises_located_error(monkeypatch):
    span = Span("net.yaml", 2, 3)
    b = Builder()
    x = b.input("x", (None, 4, 4, 1))
    b.origin = Origin(span, "backbone", "s", "sigmoid_block")
    b.output("y", b.sigmoid(x))
    monkeypatch.delitem(onnx_backend.EMITTERS, Prim.SIGMOID)
    with pytest.raises(NetcError) as err:
        onnx_backend.to_onnx(b.graph, {})
    assert err.value.message == f"the ONNX backend cannot express {Prim.SIGMOID}"
    assert err.value.span == span


def test_bad_arguments_raise():
    graph, weights = _case("se")
    with pytest.raises(NetcError):
        to_onnx(graph, weights, io_layout="nwhc")
    with pytest.raises(NetcError):
        to_onnx(graph, weights, opset=7)


# ----------------------------------------------------------------------------- determinism, saving
def test_deterministic_bytes_and_atomic_save(tmp_path):
    graph, weights = _case("fpn")
    one = to_onnx(graph, weights).SerializeToString()
    two = to_onnx(GRAPHS["fpn"](), init_weights(GRAPHS["fpn"](), seed=7, randomize=True)).SerializeToString()
    assert one == two
    path = tmp_path / "m.onnx"
    save_onnx(to_onnx(graph, weights), path)
    save_onnx(to_onnx(graph, weights), path)
    assert path.read_bytes() == one
    assert os.listdir(tmp_path) == ["m.onnx"]
    onnx.checker.check_model(str(path), full_check=True)


# ----------------------------------------------------------------------------- planted faults
def _small_variance_bn() -> tuple[Graph, dict]:
    graph, weights = _case("conv_bn_hswish")
    for w in graph.weights:
        if w.role == "moving_variance":
            weights[w.name] = np.full(w.shape, 2e-3, np.float32)
    return graph, weights


def _fault_cases():
    return {
        "bn_epsilon": [(*_small_variance_bn(), True), (*_small_variance_bn(), False)],
        "pads": [(*_case("bias_prelu"), True), (*_case("odd"), False)],
        "prelu_layout": [(*_case("bias_prelu"), True)],
    }


@pytest.mark.parametrize("fault", ["bn_epsilon", "pads", "prelu_layout"])
def test_each_fault_is_detected(fault, monkeypatch):
    for graph, weights, fold in _fault_cases()[fault]:
        assert _rel_diff(to_onnx(graph, weights, fold_bn=fold), graph, weights) <= TOL
        assert _rel_diff(to_onnx(graph, weights, fold_bn=fold, fault=fault), graph, weights) > 1e-3
