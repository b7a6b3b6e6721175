"""netc/samples.py: the one generator of sample inputs, used by `netc check`, its BN calibration and int8
calibration; a `?`-size spec is calibrated at the size it is checked at."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from netc import samples
from netc.compiler import compile as compile_model
from tests.conftest import ROOT

DYNAMIC = "input img#norm1 ?x?x3\nb#:\n    select:img#\n    cn_bn_k3_s2_c8_nre\noutput b#\n"


def test_every_use_draws_a_dynamic_spec_at_one_size() -> None:
    from netc.check import _input_cases
    from netc.deploy import calibration
    from netc.ir.calibrate import sample_inputs
    model = compile_model(DYNAMIC)
    size = samples.DYNAMIC_SIZE
    for _, feed in _input_cases(model, 0):
        assert feed["img"].shape[1:] == (size, size, 3)
    assert sample_inputs(model.graph, 0)["img"].shape == (2, size, size, 3)
    for layout in ("nchw", "nhwc"):
        infos = calibration.input_infos(model.to_onnx(io_layout=layout), layout)
        (feed,) = calibration.synthetic(infos, 1, 0)
        assert feed["img"].shape == ((1, 3, size, size) if layout == "nchw" else (1, size, size, 3))


def test_kinds_are_what_they_say() -> None:
    shapes = {"a": (5, 6, 3), "b": (7,)}
    zeros = samples.draw(shapes, 0, purpose="check", kind="zeros", batch=2)
    assert zeros["a"].shape == (2, 5, 6, 3) and zeros["b"].shape == (2, 7) and not zeros["a"].any()
    big = samples.draw({"x": (64, 64, 3)}, 1, purpose="check", batch=4)["x"]
    assert big.dtype == np.float32 and big.min() >= 0 and big.max() <= 255 and 120 < big.mean() < 135
    normal = samples.draw({"x": (64, 64, 3)}, 1, purpose="check", kind="normal", batch=4)["x"]
    assert abs(normal.mean()) < 0.05 and 0.95 < normal.std() < 1.05


def test_draws_are_reproducible_and_purposes_never_share_an_input() -> None:
    shapes = {"x": (None, None, 3)}
    one = samples.draw(shapes, 3, purpose="check")
    assert np.array_equal(one["x"], samples.draw(shapes, 3, purpose="check")["x"])
    others = [samples.draw(shapes, 3, purpose=p)["x"] for p in ("bn calibration", "int8 calibration")]
    others += [samples.draw(shapes, 4, purpose="check")["x"], samples.draw(shapes, 3, purpose="check", index=1)["x"]]
    assert all(not np.array_equal(one["x"], o) for o in others)


def test_int8_calibration_feeds_in_either_layout_are_the_same_images() -> None:
    from netc.deploy import calibration
    model = compile_model(DYNAMIC)
    nchw = calibration.synthetic(calibration.input_infos(model.to_onnx(), "nchw"), 3, 5)
    nhwc = calibration.synthetic(calibration.input_infos(model.to_onnx(io_layout="nhwc"), "nhwc"), 3, 5)
    for a, b in zip(nchw, nhwc):
        assert np.array_equal(a["img"], b["img"].transpose(0, 3, 1, 2))
    judged = samples.draw({"img": (None, None, 3)}, 5, purpose="check")["img"]
    assert all(not np.array_equal(f["img"], judged) for f in nhwc)   # not judged on what it was calibrated on


def test_unknown_purpose_or_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="purpose"):
        samples.draw({"x": (2,)}, 0, purpose="training")
    with pytest.raises(ValueError, match="kind"):
        samples.draw({"x": (2,)}, 0, purpose="check", kind="ones")


def test_calibration_no_longer_loads_the_check_command() -> None:
    code = ("import sys, netc.deploy.calibration, netc.deploy.build, netc.deploy.precision; "
            "print(sorted(m for m in sys.modules if m in ('netc.check', 'netc.compiler', 'netc.frontends.text')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
