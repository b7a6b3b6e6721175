"""Reduced-precision ONNX artifacts: float16 (weights and compute) and int8 (static QDQ quantization).

Both conversions are onnxruntime's own tools: ``onnxruntime.transformers.float16`` (the maintained
descendant of onnxconverter-common's converter, which keeps Resize's scales in float32) and
``onnxruntime.quantization.quantize_static``. netc only chooses their options and feeds them data.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Iterator

import numpy as np

from netc.diagnostics import NetcError

PRECISIONS = ("fp32", "fp16", "int8")
IO_DTYPES = ("float32", "float16")


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """quantize_static logs advice ("consider pre-processing") on the root logger: keep it off the terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def to_fp16(proto, io_dtype: str = "float32"):
    """A float16 copy of ``proto``: every float weight and op in float16; the graph's inputs and outputs
    stay float32 (a Cast at each end) unless ``io_dtype`` is "float16"."""
    if io_dtype not in IO_DTYPES:
        raise NetcError(f"--io-dtype must be one of {', '.join(IO_DTYPES)}, not `{io_dtype}`")
    from onnxruntime.transformers.float16 import convert_float_to_float16
    copy = type(proto).FromString(proto.SerializeToString())   # the converter edits its argument
    half = convert_float_to_float16(copy, keep_io_types=io_dtype == "float32", force_fp16_initializers=True)
    _sort_nodes(half.graph)   # the converter appends its input Casts after their consumers
    return half


def _sort_nodes(graph) -> None:
    """Order ``graph``'s nodes topologically (ONNX requires it), keeping the given order where it is valid."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(i in known for i in node.input):
                ordered.append(node)
                known.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("the float16 graph has a cycle or a dangling input")
        pending = rest
    copies = [type(n).FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def to_int8(proto, feeds: list[dict[str, np.ndarray]]):
    """An int8 copy of ``proto``: QDQ format, per-channel int8 weights, int8 activations whose ranges
    (MinMax) are calibrated on ``feeds``. Outputs and inputs stay float32."""
    if not feeds:
        raise NetcError("int8 quantization needs calibration inputs: --calibrate N with N >= 1")
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    from netc.deploy.calibration import reader
    # PRelu is not in onnxruntime's default list; netc's PReLU slopes are whole (H, W, C) tensors, so
    # leaving them float32 would keep most of a model's bytes (openpose: 1.2x smaller instead of 3.7x)
    # Softmax is left float32: the quantizer forces its output range to [0, 1] (step 1/255), which rounds
    # every probability of a 1000-class classifier (~0.001) to zero
    ops = sorted((set(QDQRegistry) | set(QLinearOpsRegistry) | {"PRelu"}) - {"Softmax"})
    with tempfile.TemporaryDirectory(prefix="netc-int8-") as tmp, _quiet_root_logger():
        src, dst = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(proto, src)
        # CalibStridedMinMax: ranges are taken one input at a time and merged (min of mins, max of maxes:
        # the same ranges), instead of onnxruntime keeping every intermediate tensor of every calibration
        # input in memory (SpineNet-190 at 640 px: killed at 24 GiB with 16 inputs)
        quantize_static(src, dst, reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=ops,
                        extra_options={"CalibStridedMinMax": 1})
        return onnx.load(dst)


def convert(proto, precision: str, *, io_dtype: str = "float32", feeds: list[dict[str, np.ndarray]] | None = None):
    """``proto`` at ``precision`` (fp32: unchanged)."""
    if precision not in PRECISIONS:
        raise NetcError(f"--precision must be one of {', '.join(PRECISIONS)}, not `{precision}`")
    if precision != "fp16" and io_dtype != "float32":
        raise NetcError("--io-dtype float16 goes with --precision fp16")
    if precision == "fp16":
        return to_fp16(proto, io_dtype)
    if precision == "int8":
        return to_int8(proto, feeds or [])
    return proto
