"""Behaviour a mutation run changed with no test failing (issue 14): each test here fails under that mutant.

Warnings (`cn2` channels, ignored arguments), the parameter and node limits (they fire, `--limit` raises
them, and they fire before the work), the Keras layers' BN settings, and `check`'s BN calibration.
"""
from __future__ import annotations

import time

import pytest

from netc.cli import main
from netc.compiler import check_spec
from netc.diagnostics import NetcError
from netc.registry import Limits


def _net(*blocks: str) -> str:
    return "input img#norm1 32x32x3\ns#:\n    select:img#\n" + "".join(f"    {b}\n" for b in blocks) + "output s#\n"


def _warnings(text: str) -> list[tuple[int, int, str]]:
    return [(w.span.line, w.span.col, w.message) for w in check_spec(text).warnings]


def test_cn2_warns_when_channels_are_not_divisible_by_3():
    assert _warnings(_net("cn2_e1_c12")) == []
    assert _warnings(_net("cn2_e1_c13")) == [(4, 12, "`c13` is not divisible by 3: `cn2` outputs 3 x 4 = 12 channels")]


def test_ignored_arguments_warn_at_the_argument():
    assert _warnings(_net("cn2_k3_s2_e1_c12")) == [(4, 9, "`k3` is ignored by `cn2`"), (4, 12, "`s2` is ignored by `cn2`")]


def test_warnings_are_printed_by_the_cli(tmp_path, capsys):
    path = tmp_path / "w.net"
    path.write_text(_net("cn2_k3_e1_c13"))
    with pytest.raises(SystemExit) as exc:
        main(["summary", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 0
    assert f"{path}:4:9: warning: `k3` is ignored by `cn2`" in err
    assert f"{path}:4:15: warning: `c13` is not divisible by 3" in err


# ---------------------------------------------------------------------------- limits
# cn_k3_c64 on 3 channels: 3*3*3*64 + 64 = 1,792 params; each further cn_k3_c64: 3*3*64*64 + 64 = 36,928
PARAMS_3 = 1_792 + 2 * 36_928


def test_parameter_limit_fires_and_is_raised():
    text = _net("cn_k3_c64", "cn_k3_c64", "cn_k3_c64")
    assert check_spec(text, limits=Limits(params=PARAMS_3)).params == PARAMS_3
    with pytest.raises(NetcError) as exc:
        check_spec(text, limits=Limits(params=PARAMS_3 - 1))
    assert exc.value.span.line == 6 and "exceeds the limit of 75,647 parameters" in exc.value.message


def test_parameter_limit_fires_before_the_copies_exist():
    with pytest.raises(NetcError) as exc:
        check_spec(_net("cn_r1000_k3_c64"), limits=Limits(params=100_000))
    assert exc.value.span.line == 4
    assert f"{1_792 + 999 * 36_928:,}" in exc.value.message   # the whole block, counted before lowering it


def test_node_limit_fires_and_is_raised():
    text = _net("cn_k3_c8", "cn_k3_c8", "cn_k3_c8")   # a conv node per block (bias folded in), plus the input op
    n = len(check_spec(text).graph.nodes)
    assert check_spec(text, limits=Limits(nodes=n)) is not None
    with pytest.raises(NetcError) as exc:
        check_spec(text, limits=Limits(nodes=n - 1))
    assert "IR nodes" in exc.value.message and "--limit nodes=N" in exc.value.message


def test_node_limit_fires_before_the_work(tmp_path, capsys):
    """200 lines of 1,000 copies: refused from the repeats, at the first block, in well under a second (it took
    25 s and 2.3 GB when the limit was checked after the nodes existed); `--limit` lets a smaller one through."""
    path = tmp_path / "big.net"
    path.write_text(_net(*["ir_r1000_k3_c8_se4_nhs"] * 200))
    start = time.process_time()   # CPU time: another process's load on a shared CI machine does not count
    with pytest.raises(SystemExit) as exc:
        main(["summary", str(path)])
    took = time.process_time() - start
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{path}:4:5: error: the model exceeds the limit of 50,000 IR nodes" in err
    assert took < 3.0, took   # a guard far above the ~0.05 s CPU it takes (25 s unguarded), not a benchmark
    path.write_text(_net(*["ir_r1000_k3_c8_se4_nhs"] * 2))
    with pytest.raises(SystemExit) as exc:
        main(["summary", "--limit", "nodes=40000", str(path)])
    assert exc.value.code == 0, capsys.readouterr().err


def test_node_limit_counts_repeats_after_depth():
    """The work estimate scales written repeats by `depth` as lowering does: `depth 0.01` makes 200 lines of
    `r1000` ten copies each (28,004 nodes, under the 50,000 limit), which the unscaled estimate (200,000
    copies at least) refused before any work."""
    text = "depth 0.01\n" + _net(*["ir_r1000_k3_c8_se4_nhs"] * 200)
    checked = check_spec(text)
    assert 200 * 10 < len(checked.graph.nodes) < 50_000
    with pytest.raises(NetcError) as exc:   # and the limit still fires, before the work, on what depth makes
        check_spec("depth 10\n" + _net(*["ir_r1000_k3_c8_se4_nhs"] * 2))
    assert "IR nodes" in exc.value.message and exc.value.span.line == 5


# ---------------------------------------------------------------------------- Keras layers' settings
@pytest.mark.slow
@pytest.mark.tf
def test_keras_bn_layers_carry_each_blocks_momentum_and_epsilon():
    """`cn`'s BN is tf_netbuilder's ConvBnAct (momentum 0.999), `ir`'s are Keras' default (0.99); both 1e-3."""
    import keras

    from netc.compiler import compile as compile_model
    model = compile_model(_net("c#cn_bn_k3_c8_nre", "i#ir_k3_e2_c8_se4_nre")).to_keras()
    bns = {layer.name: (layer.momentum, layer.epsilon) for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization)}
    cn = {k: v for k, v in bns.items() if k.startswith("s.c.")}
    ir = {k: v for k, v in bns.items() if k.startswith("s.i.")}
    assert len(cn) == 1 and len(ir) == 3, bns
    assert all(v == pytest.approx((0.999, 1e-3)) for v in cn.values()), cn
    assert all(v == pytest.approx((0.99, 1e-3)) for v in ir.values()), ir


# ---------------------------------------------------------------------------- check's BN calibration
@pytest.mark.slow
@pytest.mark.tf
def test_check_outputs_depend_on_the_input():
    """With random BN statistics a deep model's output barely depends on its input, and `check` would compare
    bias paths only. With check's calibrated statistics, two images give outputs that differ by about the
    outputs' own spread (measured 1.15; with the drawn statistics 0.13-0.14), and `check` passes on them."""
    import numpy as np

    from netc.check import run_check
    from netc.compiler import compile as compile_model
    from netc.ir import interp
    from netc.ir.calibrate import calibrate_batchnorm
    spec = _net(*["ir_k3_e3_c16_nre"] * 12, "cn_bn_k3_c8_nhs")
    assert run_check(spec, seed=3)["ok"]
    model = compile_model(spec, seed=3, randomize=True)
    rng = np.random.default_rng(0)
    (name, shape), = [(v.name, (1, *v.shape[1:])) for v in model.graph.inputs]
    images = [np.zeros(shape, np.float32)] + [rng.uniform(0, 255, shape).astype(np.float32) for _ in range(2)]

    def spread(weights) -> list[float]:
        ys = [next(iter(interp.run(model.graph, weights, {name: x}).values())) for x in images]
        return [float(np.linalg.norm(ys[1] - y) / np.linalg.norm(ys[1] - ys[1].mean())) for y in (ys[0], ys[2])]

    assert min(spread(calibrate_batchnorm(model.graph, model.weights, 3))) > 0.8
    assert max(spread(model.weights)) < 0.3
