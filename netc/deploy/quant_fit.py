"""How well an int8 artifact's quantization scales fit the float32 model's own tensors.

The end-to-end error of a post-training int8 model mixes two things: the noise each quantized tensor adds
(small when its scale fits the data) and how much the network downstream amplifies that noise (large for
check's randomly drawn weights, small for trained ones). The first is what a quantizer controls, so it is
the one `netc check` judges: for every tensor the artifact quantizes, the float32 model's value of that
tensor is quantized alone with the artifact's scale and zero point, and the relative L2 error of that
round trip is the tensor's *fit*. Wrong scales (calibration on data unlike the inputs, a range forced on
an op, a model saturating outside its calibrated range) show as fits near 1; a well-calibrated tensor
is within a few percent (docs/deploy.md has the measurements).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# worst single-tensor fit allowed; measured 0.02-0.06 on the shipped specs, 0.98-1.0 with broken scales
FIT_TOLERANCE = 0.2
# the float32 tensors one probe run returns at most: past it the tensors are fetched in groups, one run each
# (every quantized tensor of SpineNet-190 at 640 px, batch 2, is about 8 GB)
FETCH_BYTES = 1 << 30


@dataclass(frozen=True)
class Fit:
    worst: float          # the worst tensor's relative L2 round-trip error
    tensor: str           # its name
    median: float
    tensors: int          # quantized activation tensors measured
    unmatched: int        # quantized tensors the float32 model does not have under the same name


def _scales(int8_proto) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Activation tensor -> (scale, zero point) of each QuantizeLinear on an activation (not a weight)."""
    from onnx import numpy_helper
    inits = {i.name: i for i in int8_proto.graph.initializer}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for n in int8_proto.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits:
            continue
        scale = numpy_helper.to_array(inits[n.input[1]]).astype(np.float64)
        zp = numpy_helper.to_array(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] else np.zeros((), np.uint8)
        out[n.input[0]] = (scale, zp)
    return out


def round_trip(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """QuantizeLinear then DequantizeLinear of ``x`` (per-tensor), as ONNX defines them: round half to even,
    saturate to the zero point's integer type."""
    info = np.iinfo(zero_point.dtype)
    zp = zero_point.astype(np.int64)
    q = np.clip(np.rint(x.astype(np.float64) / scale) + zp, info.min, info.max)
    return (q - zp) * scale


def fitter(float_proto, int8_proto) -> Callable[[dict[str, np.ndarray]], Fit]:
    """A function of the models' feeds that measures every quantized tensor's fit on them."""
    import onnx

    from netc.deploy.providers import session
    scales = _scales(int8_proto)
    inputs = {i.name for i in float_proto.graph.input}
    produced = {o for n in float_proto.graph.node for o in n.output}
    names = [t for t in scales if t in produced or t in inputs]
    probe = onnx.ModelProto()
    probe.CopyFrom(float_proto)
    outputs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in names
                              if t in produced and t not in outputs)
    sess = session(probe, "cpu", level="ORT_DISABLE_ALL")   # every tensor as the float32 graph computes it
    fetched = [t for t in names if t in produced]
    sizes = _elements_per_item(float_proto, fetched)
    del probe

    def measure(feeds: dict[str, np.ndarray]) -> Fit:
        batch = next(iter(feeds.values())).shape[0]
        errs = []

        def fit(t: str, value: np.ndarray) -> None:
            x = value.astype(np.float64)
            ref = float(np.linalg.norm(x))
            d = float(np.linalg.norm(round_trip(x, *scales[t]) - x))
            errs.append((d / ref if ref > 0 else (0.0 if d == 0 else float("inf")), t))

        for t in names:
            if t in feeds:
                fit(t, feeds[t])
        for group in _groups(fetched, {t: 4 * batch * n for t, n in sizes.items()}, FETCH_BYTES):
            for t, value in zip(group, sess.run(group, feeds)):
                fit(t, value)
        worst = max(errs, default=(0.0, ""))
        return Fit(worst[0], worst[1], float(np.median([e for e, _ in errs])) if errs else 0.0,
                   len(names), len(scales) - len(names))

    return measure


def _elements_per_item(proto, names: list[str]) -> dict[str, int]:
    """Elements of each named tensor per batch item, from ONNX shape inference on a copy of the graph
    without its weights' data (unknown shapes count 0)."""
    import onnx
    inits = [onnx.helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in proto.graph.initializer]
    graph = onnx.helper.make_graph(list(proto.graph.node), "shapes", list(proto.graph.input) + inits,
                                   list(proto.graph.output))
    bare = onnx.helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    inferred = onnx.shape_inference.infer_shapes(bare)
    out = {}
    for vi in inferred.graph.value_info:
        dims = vi.type.tensor_type.shape.dim
        if vi.name in names and dims:
            out[vi.name] = int(np.prod([d.dim_value if d.HasField("dim_value") else 1 for d in dims[1:]]))
    return {t: out.get(t, 0) for t in names}


def _groups(names: list[str], nbytes: dict[str, int], limit: int) -> list[list[str]]:
    """``names`` in order, cut into runs of at most ``limit`` bytes (a larger tensor alone)."""
    groups: list[list[str]] = []
    total = limit + 1
    for t in names:
        if total + nbytes[t] > limit:
            groups.append([])
            total = 0
        groups[-1].append(t)
        total += nbytes[t]
    return groups
