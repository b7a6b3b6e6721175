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
    out_names = [o.name for o in sess.get_outputs()]

    def measure(feeds: dict[str, np.ndarray]) -> Fit:
        values = dict(zip(out_names, sess.run(out_names, feeds)))
        values.update({k: v for k, v in feeds.items() if k in names})
        errs = []
        for t in names:
            x = values[t].astype(np.float64)
            ref = float(np.linalg.norm(x))
            d = float(np.linalg.norm(round_trip(x, *scales[t]) - x))
            errs.append((d / ref if ref > 0 else (0.0 if d == 0 else float("inf")), t))
        worst = max(errs, default=(0.0, ""))
        return Fit(worst[0], worst[1], float(np.median([e for e, _ in errs])) if errs else 0.0,
                   len(names), len(scales) - len(names))

    return measure
