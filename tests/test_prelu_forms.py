"""The ONNX forms of PReLU (netc/backends/onnx/prelu.py, prelu_form): each one run on onnxruntime against the numpy
interpreter's definition (x where x >= 0, else alpha * x), bit for bit, signed zeros, infinities and NaN
included, for per-element (`pre`) and per-channel (`prc`) slopes, inside and outside [0, 1]."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from netc.backends.onnx import to_onnx
from netc.backends.onnx.prelu import prelu_form
from netc.ir import interp
from netc.ir.builder import Builder
from netc.ir.graph import Graph
from netc.ir.weights import init_weights

H, W, C = 4, 5, 6
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3.5, -3.5, 1e-38, -1e-38, 1e-45, -1e-45,
                    3e38, -3e38, 0.1, -0.1], np.float32)

# slope sets (drawn per element; a per-channel PReLU takes the first C): name -> (values, expected form)
RNG = np.random.default_rng(13)
SLOPES = {
    "uniform_zero": (np.zeros(H * W * C), "leaky"),            # Keras' default initialisation
    "uniform_negative": (np.full(H * W * C, -0.7), "leaky"),
    "signed_zeros": (np.r_[-0.0, np.zeros(H * W * C - 1)], "prelu"),
    "in_0_1": (RNG.uniform(0.05, 0.3, H * W * C), "max"),      # netc's random initialisation
    "in_0_1_with_one": (np.r_[1.0, RNG.uniform(1e-6, 1.0, H * W * C - 1)], "max"),
    "zero_and_positive": (np.r_[0.0, RNG.uniform(0.05, 1.0, H * W * C - 1)], "prelu"),   # +inf * 0 is NaN
    "at_least_1": (np.r_[1.0, RNG.uniform(1.0, 4.0, H * W * C - 1)], "min"),
    "both_sides_of_1": (RNG.uniform(0.2, 2.0, H * W * C), "prelu"),
    "negative_and_positive": (RNG.uniform(-1.5, 1.5, H * W * C), "prelu"),
    "negative": (RNG.uniform(-2.0, -0.01, H * W * C), "prelu"),
    "infinite": (np.r_[np.inf, RNG.uniform(1.0, 2.0, H * W * C - 1)], "prelu"),   # 0 * inf is NaN
}
# forms that are exact for a slope set: the chosen one, the general ones, ONNX's own PRelu op
GENERAL = ("prelu",)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # inf * 0, overflow in the numpy reference


def _graph(per_channel: bool, conv: bool) -> Graph:
    b = Builder("prelu_forms")
    x = b.input("x", (None, H, W, C))
    if conv:
        x = b.conv(x, C, 3, bias=True, name="conv")
    b.output("y", b.prelu(x, name="act", per_channel=per_channel))
    return b.graph


def _weights(graph: Graph, slopes: np.ndarray) -> dict:
    weights = init_weights(graph, seed=3, randomize=True)
    name = next(n for n in weights if n.endswith("alpha"))
    shape = weights[name].shape
    weights[name] = slopes[: int(np.prod(shape))].astype(np.float32).reshape(shape)
    return weights


def _alpha(weights: dict) -> np.ndarray:
    return weights[next(n for n in weights if n.endswith("alpha"))]


def _run(graph: Graph, weights: dict, x: np.ndarray, form: str | None) -> tuple[np.ndarray, onnx.ModelProto]:
    model = to_onnx(graph, weights, prelu_form=form)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL   # fusions included
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x.transpose(0, 3, 1, 2)})
    return y.transpose(0, 2, 3, 1), model


def _special_input(seed: int = 0) -> np.ndarray:
    """Every special value at every position (rolled per image), then random normals."""
    n = H * W * C
    rows = [np.roll(np.resize(SPECIAL, n), k) for k in range(len(SPECIAL))]
    rows.append(np.random.default_rng(seed).normal(0, 2, n).astype(np.float32))
    return np.stack(rows).reshape(-1, H, W, C).astype(np.float32)


def _assert_bit_equal(got: np.ndarray, ref: np.ndarray) -> None:
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(got), nan)
    g, r = got[~nan].view(np.uint32), ref[~nan].view(np.uint32)
    bad = np.flatnonzero(g != r)
    assert bad.size == 0, f"{bad.size} elements differ, e.g. {got[~nan][bad[:5]]} vs {ref[~nan][bad[:5]]}"


@pytest.mark.parametrize("per_channel", [False, True], ids=["pre", "prc"])
@pytest.mark.parametrize("case", sorted(SLOPES))
def test_forms_are_bit_exact_on_special_values(case: str, per_channel: bool) -> None:
    slopes, expected = SLOPES[case]
    graph = _graph(per_channel, conv=False)
    weights = _weights(graph, slopes)
    chosen = prelu_form(_alpha(weights))
    if not per_channel:   # a per-channel PReLU takes the first C slopes only: its form may differ
        assert chosen == expected
    x = _special_input()
    ref = interp.run(graph, weights, {"x": x})["y"]
    for form in sorted({chosen, *GENERAL}):
        got, _ = _run(graph, weights, x, form)
        _assert_bit_equal(got, ref)
    got, _ = _run(graph, weights, x, None)
    _assert_bit_equal(got, ref)


@pytest.mark.parametrize("case,expected", [(k, v[1]) for k, v in sorted(SLOPES.items())])
def test_choice_follows_the_slopes(case: str, expected: str) -> None:
    assert prelu_form(SLOPES[case][0].astype(np.float32)) == expected


def test_choice_edge_cases() -> None:
    assert prelu_form(np.array([0.25], np.float32)) == "leaky"
    assert prelu_form(np.array([np.nan, np.nan], np.float32)) == "leaky"   # the same bits: one slope
    assert prelu_form(np.array([0.5, 1.0], np.float32)) == "max"
    assert prelu_form(np.array([1.0, 2.0], np.float32)) == "min"
    assert prelu_form(np.array([0.0, 0.5], np.float32)) == "prelu"
    assert prelu_form(np.array([-0.0, -0.0], np.float32)) == "leaky"
    assert prelu_form(np.array([-0.0, 0.0], np.float32)) == "prelu"   # two slopes: x * -0 is +0 for x < 0


@pytest.mark.parametrize("per_channel", [False, True], ids=["pre", "prc"])
@pytest.mark.parametrize("case", sorted(SLOPES))
def test_chosen_form_after_a_conv_equals_prelu_op(case: str, per_channel: bool) -> None:
    """Behind a Conv (where onnxruntime fuses LeakyRelu into it), the chosen form gives the bits of ONNX's
    PRelu op, and both agree with the interpreter within float32 rounding of the conv."""
    slopes, _ = SLOPES[case]
    graph = _graph(per_channel, conv=True)
    weights = _weights(graph, slopes)
    x = np.random.default_rng(1).normal(0, 1, (3, H, W, C)).astype(np.float32)
    ref = interp.run(graph, weights, {"x": x})["y"]
    got, model = _run(graph, weights, x, None)
    via_prelu, _ = _run(graph, weights, x, "prelu")
    _assert_bit_equal(got, via_prelu)
    finite = np.isfinite(ref)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref[finite]).max()))
    ops = {n.op_type for n in model.graph.node}
    form = prelu_form(_alpha(weights))
    expected_op = {"leaky": "LeakyRelu", "max": "Max", "min": "Min", "prelu": "PRelu"}[form]
    assert expected_op in ops and (form == "prelu" or "PRelu" not in ops)


@pytest.mark.parametrize("form", ["where", "relu_min"])
def test_general_forms_equal_in_value_only(form: str) -> None:
    """The benchmark-only general forms, Where(x < 0, x * s, x) and Relu(x) + s * Min(x, 0), match PRelu in
    value (NaN where it is NaN, infinities included for Where) but turn some -0 results into +0 on
    onnxruntime: that (and their speed) is why the general case keeps ONNX's PRelu op."""
    graph = _graph(False, conv=False)
    weights = _weights(graph, SLOPES["negative_and_positive"][0])
    x = _special_input()
    if form == "relu_min":   # inf + (-inf) * 0 would be NaN: finite inputs only
        x = np.where(np.isfinite(x), x, 1.0).astype(np.float32)
    ref = interp.run(graph, weights, {"x": x})["y"]
    got, _ = _run(graph, weights, x, form)
    np.testing.assert_array_equal(got, ref)              # NaN matches NaN, -0 == +0
    neg_zero = (ref == 0) & np.signbit(ref)
    assert neg_zero.any() and not np.signbit(got[neg_zero]).all()
