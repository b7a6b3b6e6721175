"""`netc build` for deployment: reduced precision (--precision) and serving layouts (--serve)."""
from __future__ import annotations

import os

from netc.diagnostics import NetcError

DEFAULT_CALIBRATE = 16


def onnx_artifact(model, *, precision: str = "fp32", io_dtype: str = "float32", calibrate: int | None = None,
                  calibration_data: str | None = None, opset: int = 17, io_layout: str = "nchw", seed: int = 0,
                  proto=None, deploy: bool = False):
    """The ONNX ModelProto of ``model`` at ``precision`` (``proto``: an already built float32 one)."""
    from netc.deploy import calibration, precision as prec
    if precision != "int8" and (calibrate is not None or calibration_data is not None):
        raise NetcError("--calibrate and --calibration-data go with --precision int8")
    if proto is None:
        proto = model.to_onnx(opset=opset, io_layout=io_layout, deploy=deploy)
    feeds = None
    if precision == "int8":
        infos = calibration.input_infos(proto, io_layout)
        if calibration_data is not None:
            feeds = calibration.from_directory(calibration_data, infos, limit=calibrate)
        else:
            feeds = calibration.synthetic(infos, DEFAULT_CALIBRATE if calibrate is None else calibrate, seed)
    return prec.convert(proto, precision, io_dtype=io_dtype, feeds=feeds)


def build(model, spec: str, out: str, *, serve: str | None, name: str | None = None, max_batch_size: int = 8,
          via: str = "direct", **options) -> str:
    """Write ``out``: an ONNX file at a reduced precision, or a serving layout. Returns what was written."""
    if serve == "tf-serving":
        if options.get("precision", "fp32") != "fp32" or via != "direct" or options.get("io_layout", "nchw") != "nchw":
            raise NetcError("--serve tf-serving exports the Keras model in float32 (NHWC): drop --precision, "
                            "--via and --io-layout")
        from netc.deploy.tf_serving import export
        from netc.deploy.layout import model_name
        return export(model, out, model_name(spec, name))
    proto = None
    if via == "tf2onnx":
        from netc.backends.tf2onnx_route import keras_to_onnx
        if options.get("io_layout", "nchw") != "nchw":
            raise NetcError("`--io-layout` applies to netc's own ONNX emitter (the tf2onnx route is NHWC)")
        proto = keras_to_onnx(model.to_keras(deploy=options.get("deploy", False)), opset=options.get("opset", 17))
        options["io_layout"] = "nhwc"
    proto = onnx_artifact(model, proto=proto, **options)
    if serve == "triton":
        from netc.deploy.layout import model_name
        from netc.deploy.triton import write_repository
        return write_repository(proto, out, model_name(spec, name), max_batch_size)
    if serve is not None:
        raise NetcError(f"unknown serving layout `{serve}`")
    if not out.lower().endswith(".onnx") or os.path.isdir(out):
        raise NetcError("--precision fp16/int8 produces ONNX: give an `.onnx` output (or --serve triton)")
    from netc.backends.onnx_backend import save_onnx
    save_onnx(proto, out)
    return out
