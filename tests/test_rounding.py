"""The rounding spread that widens `netc check`'s noise (netc/ir/rounding.py), against hand-derived bounds."""
from __future__ import annotations

import numpy as np
import pytest

from netc.compiler import compile as compile_model
from netc.ir.rounding import FLOAT32_STEP, rounding_spread


def _model(tmp_path, body: str):
    spec = tmp_path / "m.net"
    spec.write_text(f"input img# 16x16x3\nb#:\n    select:img#\n{body}output b#\n")
    return compile_model(str(spec), seed=0, randomize=True)


def test_a_single_layer_moves_by_about_one_ulp(tmp_path):
    """One conv (and its input) perturbed by a uniform error of standard deviation 2^-23 each: the relative
    change of the output is a few ulps at most (a sum of independent perturbations, normalised by the largest
    output), and never zero."""
    m = _model(tmp_path, "    cn_k3_c8\n")
    x = {"img": np.random.default_rng(1).standard_normal((1, 16, 16, 3)).astype(np.float32)}
    s = rounding_spread(m.graph, m.weights, x)
    assert FLOAT32_STEP / 8 < s < 8 * FLOAT32_STEP


def test_spread_is_reproducible_and_grows_with_depth(tmp_path):
    x = {"img": np.random.default_rng(2).standard_normal((1, 16, 16, 3)).astype(np.float32)}
    shallow = _model(tmp_path, "    cn_bn_r1_k3_c8\n")
    deep = _model(tmp_path, "    cn_bn_r1_k3_c8\n" * 12)
    a = rounding_spread(shallow.graph, shallow.weights, x)
    assert a == rounding_spread(shallow.graph, shallow.weights, x)   # same seed, same figure
    assert rounding_spread(deep.graph, deep.weights, x) > a


@pytest.mark.tf
def test_check_reports_the_spread_inside_its_noise(tmp_path):
    from netc.check import run_check
    spec = tmp_path / "c.net"
    spec.write_text("input img# 16x16x3\nb#:\n    select:img#\n    cn_bn_r1_k3_c8\n    cn_bn_r1_k3_s2_c8\noutput b#\n")
    tol = run_check(str(spec))["tolerance"]
    assert tol["rounding_spread"] is not None and 0 < tol["rounding_spread"] <= tol["float32_noise"]
    assert tol["rtol_normalised"] == max(1e-4, 3 * tol["float32_noise"])
