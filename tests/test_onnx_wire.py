"""netc's own protobuf encoding of ONNX (netc/backends/onnx/wire.py) against the onnx package: every message
kind parses with onnx and re-serializes to the same bytes (protobuf's canonical field order and encodings),
and the facts it keeps (the IR version of each opset, the newest opset) are those of the installed onnx."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import netc
from netc.backends.onnx import wire
from netc.backends.onnx.model import IR_VERSION, MAX_OPSET, MIN_OPSET
from conftest import spec_path


def test_opset_facts_are_those_of_the_installed_onnx():
    assert MAX_OPSET == onnx.defs.onnx_opset_version()
    for opset in range(MIN_OPSET, MAX_OPSET + 1):
        assert IR_VERSION[opset] == helper.find_min_ir_version_for([helper.make_opsetid("", opset)]), opset


@pytest.mark.parametrize("value", [3, -1, 0, 2**40, 1.5, -0.25, "nearest", "", [1, 2, -3], [0], [0.5, -2.0],
                                   np.int64(-7), [np.int64(2), 5]])
def test_attribute_encodes_as_onnx_helper_makes_it(value):
    plain = value.item() if isinstance(value, np.generic) else [int(v) for v in value] \
        if isinstance(value, list) and any(isinstance(v, np.generic) for v in value) else value
    want = helper.make_attribute("a", plain)
    got = onnx.AttributeProto.FromString(wire.attribute("a", value))
    assert got == want and got.SerializeToString() == wire.attribute("a", value)


@pytest.mark.parametrize("value", [True, None, [1, 2.0], {"a": 1}, np.zeros(3)])
def test_attribute_refuses_what_it_cannot_encode(value):
    with pytest.raises(TypeError):
        wire.attribute("a", value)


def test_node_value_info_and_tensor_round_trip():
    n = wire.node("Conv", "c/conv", ["x", "w", ""], ["y"], wire.attributes({"strides": [2, 2], "group": 1}), "s.net:3:5: cn")
    want = helper.make_node("Conv", ["x", "w", ""], ["y"], name="c/conv", doc_string="s.net:3:5: cn",
                            group=1, strides=[2, 2])
    assert onnx.NodeProto.FromString(n) == want and want.SerializeToString() == n
    v = wire.value_info("img", wire.FLOAT, ["N", 3, "img_H", 224])
    want = helper.make_tensor_value_info("img", onnx.TensorProto.FLOAT, ["N", 3, "img_H", 224])
    assert onnx.ValueInfoProto.FromString(v) == want and want.SerializeToString() == v
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5
    t = wire.Initializer("w", wire.FLOAT, arr.shape, memoryview(arr).cast("B"))
    data = b"".join(t.pieces())
    assert np.array_equal(numpy_helper.to_array(onnx.TensorProto.FromString(data)), arr)
    assert onnx.TensorProto.FromString(data).SerializeToString() == data
    ext = wire.Initializer("w", wire.FLOAT, (2, 3), external=[("location", "m.onnx.data"), ("offset", "4096")])
    parsed = onnx.TensorProto.FromString(b"".join(ext.pieces()))
    assert parsed.data_location == onnx.TensorProto.EXTERNAL and parsed.external_data[1].value == "4096"
    assert parsed.SerializeToString() == b"".join(ext.pieces())


@pytest.mark.parametrize("spec,options", [("openpose.net", {}), ("mobilenet_v3.net", {"io_layout": "nhwc", "opset": 13}),
                                          ("repvgg_a0.net", {"deploy": True, "opset": 11}),
                                          ("spinenet49s.net", {"opset": MAX_OPSET})])
def test_models_are_canonical_protobuf_and_valid_onnx(spec, options, tmp_path):
    """A written model is the bytes onnx itself would write for the message it parses into, and passes the
    checker with full type and shape inference."""
    path = tmp_path / "m.onnx"
    netc.compile(spec_path(spec), seed=1).to_onnx(str(path), **options)
    data = path.read_bytes()
    model = onnx.ModelProto.FromString(data)
    assert model.SerializeToString() == data
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == options.get("opset", 17) and model.producer_name == "netc"


def test_external_data_model_parses_and_points_into_its_file(tmp_path):
    path = tmp_path / "m.onnx"
    netc.compile(spec_path("mobilenet_v3.net"), seed=1).to_onnx(str(path), external_data=True)
    data = path.read_bytes()
    model = onnx.ModelProto.FromString(data)
    assert model.SerializeToString() == data
    size = (tmp_path / "m.onnx.data").stat().st_size
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external and all(int(dict((e.key, e.value) for e in t.external_data)["offset"]) % 4096 == 0
                            and int(dict((e.key, e.value) for e in t.external_data)["offset"]) < size
                            for t in external)
