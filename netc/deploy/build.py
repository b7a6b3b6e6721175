"""`netc build` for deployment: reduced precision (--precision) and serving layouts (--serve)."""
from __future__ import annotations

import os
from typing import Any

from netc.diagnostics import NetcError

DEFAULT_CALIBRATE = 16


def onnx_artifact(model, *, precision: str = "fp32", io_dtype: str = "float32", calibrate: int | None = None,
                  calibration_data: str | None = None, opset: int = 17, io_layout: str = "nchw", seed: int = 0,
                  proto=None, deploy: bool = False):
    """The ONNX ModelProto of ``model`` at ``precision`` (``proto``: an already built float32 one)."""
    from netc.deploy import calibration, precision as prec
    _calibration_needs_int8(precision, calibrate, calibration_data)
    if proto is None:
        proto = model.to_onnx(opset=opset, io_layout=io_layout, deploy=deploy)
    feeds = None
    if precision == "int8":
        infos = calibration.input_infos(proto, io_layout)
        if calibration_data is not None:
            feeds = calibration.from_directory(calibration_data, infos, limit=calibrate)
        else:
            feeds = calibration.synthetic(infos, DEFAULT_CALIBRATE if calibrate is None else calibrate, seed)
    from netc import progress
    if feeds is not None:
        progress.step(f"int8 calibration on {len(feeds)} inputs")
    converted = prec.convert(proto, precision, io_dtype=io_dtype, feeds=feeds)
    progress.clear()   # the calibration's line ends here (the caller may print next)
    return converted


def _calibration_needs_int8(precision: str, calibrate: int | None, calibration_data: str | None) -> None:
    if precision != "int8" and (calibrate is not None or calibration_data is not None):
        raise NetcError("--calibrate and --calibration-data go with --precision int8")


def check_request(spec: str, out: str, *, serve: str | None, name: str | None = None, route: Any = None,
                  precision: str = "fp32", io_dtype: str = "float32", calibrate: int | None = None,
                  calibration_data: str | None = None, io_layout: str = "nchw", **_) -> None:
    """Every mistake in a deployment build's options and output, raised before anything is compiled. ``route``: the
    backend of another route to ONNX (``--via``; a :class:`netc.backends.Backend`), None for netc's own."""
    from netc.atomic import check_target
    from netc.deploy.layout import TF_SERVING_VERSION, TRITON_VERSION, check_layout, check_model_dir, model_name
    from netc.deploy.precision import IO_DTYPES, PRECISIONS
    if serve not in (None, "triton", "tf-serving"):
        raise NetcError(f"unknown serving layout `{serve}`")
    if precision not in PRECISIONS:
        raise NetcError(f"--precision must be one of {', '.join(PRECISIONS)}, not `{precision}`")
    if io_dtype not in IO_DTYPES or (io_dtype != "float32" and precision != "fp16"):
        raise NetcError("--io-dtype float16 goes with --precision fp16")
    _calibration_needs_int8(precision, calibrate, calibration_data)
    if calibration_data is not None:
        from netc.deploy.calibration import require_directory
        require_directory(calibration_data)
    if route is not None and io_layout != "nchw" and "io_layout" not in route.options:
        raise NetcError(f"`--io-layout` applies to netc's own ONNX emitter (the {route.name} route is "
                        f"{route.io_layout.upper()})")
    if serve == "tf-serving":
        if precision != "fp32" or route is not None or io_layout != "nchw":
            raise NetcError("--serve tf-serving exports the Keras model in float32 (NHWC): drop --precision, "
                            "--via and --io-layout")
        check_layout(out, "tf-serving")
        check_model_dir(out, model_name(spec, name), "1", TF_SERVING_VERSION)
    elif serve == "triton":
        check_layout(out, "triton")
        check_model_dir(out, model_name(spec, name), "1", TRITON_VERSION, files=("config.pbtxt",))
    else:
        if not out.lower().endswith(".onnx") or os.path.isdir(out):
            raise NetcError("--precision fp16/int8 produces ONNX: give an `.onnx` output (or --serve triton)")
        check_target(out)


def build(model, spec: str, out: str, *, serve: str | None, name: str | None = None, max_batch_size: int = 8,
          route: Any = None, **options) -> str:
    """Write ``out``: an ONNX file at a reduced precision, or a serving layout. Returns what was written.
    The request is checked first (:func:`check_request`; the CLI calls it before compiling too)."""
    check_request(spec, out, serve=serve, name=name, route=route, **options)
    from netc.deploy.layout import model_name
    if serve == "tf-serving":
        from netc.deploy.tf_serving import export
        return export(model, out, model_name(spec, name), deploy=options.get("deploy", False))
    proto = None
    if route is not None:   # another route to ONNX (`--via`): its artifact, then the same precision conversion
        proto = model.artifact(route.name, deploy=options.get("deploy", False), opset=options.get("opset", 17))
        if "io_layout" not in route.options:
            options["io_layout"] = route.io_layout
    proto = onnx_artifact(model, proto=proto, **options)
    if serve == "triton":
        from netc.deploy.triton import write_repository
        return write_repository(proto, out, model_name(spec, name), max_batch_size)
    from netc.backends.onnx import save_onnx
    save_onnx(proto, out)
    return out
