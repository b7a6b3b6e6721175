"""How exact a reference is: float32 against its float64 twin, and what real mistakes cost in comparison.

``noise`` is the tolerance a faithful reimplementation must meet: max|f32 - f64| / max|f64| of the
reference itself on netc check's kinds of input. ``planted`` runs the float64 twin with one mistake of
the kind a spec author makes (wrong BN epsilon everywhere, the padding of every stride-2 layer moved
one pixel to the other side, one residual dropped) and reports the same normalised difference.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from refmodels.graphrun import Override, run_graph

# the residual dropped by the planted mistake: one identity shortcut in each model (input 0 of its Add)
RESIDUAL_ADD = {
    "mobilenet_v2_140": "block_2_add",
    "mobilenet_v3_large": "expanded_conv_2_add",
    "resnet50": "conv2_block2_add",
    "repvgg_a0": "stage1_1_add",   # input 0 is the identity-BN branch
}


def input_cases(size: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """netc check's kinds of input at batch 1, as it draws them (netc/samples.py): zeros, standard normal,
    uniform over [0, 255]."""
    from netc.samples import check_cases
    return [(case, feed["x"]) for case, feed in check_cases({"x": (size, size, 3)}, seed) if case in
            ("zeros", "normal", "uniform 0-255")]


def normalised_diff(got: np.ndarray, ref: np.ndarray) -> float:
    """max|got - ref| / max|ref|."""
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / np.max(np.abs(ref)))


def noise(model32, model64, size: int, seed: int = 0) -> dict[str, float]:
    """Per input case, max|f32 - f64| / max|f64| of the same weights in float32 and in float64."""
    out = {}
    for case, x in input_cases(size, seed):
        y32 = np.asarray(model32(x.astype(np.float32), training=False))
        y64 = np.asarray(model64(x.astype(np.float64), training=False))
        out[case] = normalised_diff(y32, y64)
    return out


def _shift(before: int, after: int) -> tuple[int, int]:
    """The same total padding with one pixel moved to the other side."""
    return (after, before) if before != after else (before - 1, after + 1)


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padding_overrides(model) -> dict[str, Override]:
    import keras
    ops = keras.ops
    overrides: dict[str, Override] = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "ZeroPadding2D":
            (t, b), (left, r) = layer.padding
            if (t, b) == (0, 0):
                continue
            pads = [(0, 0), _shift(t, b), _shift(left, r), (0, 0)]
            overrides[layer.name] = lambda lyr, x, *a, _p=pads, **k: ops.pad(x, _p)
        elif kind in ("Conv2D", "DepthwiseConv2D") and layer.padding == "same" and max(layer.strides) > 1:
            _, h, w, _ = layer.input.shape
            kh, kw = layer.kernel_size
            pads = [(0, 0), _shift(*_same_pads(h, kh, layer.strides[0])), _shift(*_same_pads(w, kw, layer.strides[1])),
                    (0, 0)]
            if pads[1] == (-1, 1) or pads[2] == (-1, 1):
                continue   # nothing to move (a 1x1 kernel)

            def conv(lyr, x, *a, _p=pads, **k):
                fn = ops.depthwise_conv if type(lyr).__name__ == "DepthwiseConv2D" else ops.conv
                y = fn(ops.pad(x, _p), lyr.kernel, strides=lyr.strides, padding="valid")
                if lyr.use_bias:
                    y = y + lyr.bias
                return lyr.activation(y)
            overrides[layer.name] = conv
    return overrides


def _epsilon_overrides(model) -> dict[str, Override]:
    def bn(layer, x, *a, **k):
        right = layer.epsilon
        layer.epsilon = 1e-5 if right >= 1e-4 else 1e-3
        try:
            return layer(x, *a, **k)
        finally:
            layer.epsilon = right
    return {layer.name: bn for layer in model.layers if type(layer).__name__ == "BatchNormalization"}


def _residual_override(name: str) -> dict[str, Override]:
    def add(layer, xs, *a, **k):
        return layer(xs[1:], *a, **k) if len(xs) > 2 else xs[1]
    return {RESIDUAL_ADD[name]: add}


MISTAKES: dict[str, Callable[[object, str], dict[str, Override]]] = {
    "BN epsilon 1e-5 <-> 1e-3": lambda m, n: _epsilon_overrides(m),
    "stride-2 padding moved one pixel": lambda m, n: _padding_overrides(m),
    "one residual dropped": lambda m, n: _residual_override(n),
}


def planted(model64, name: str, size: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per mistake and input case, max|wrong - right| / max|right| in float64."""
    out: dict[str, dict[str, float]] = {}
    cases = input_cases(size, seed)
    right = {case: run_graph(model64, x) for case, x in cases}
    for mistake, make in MISTAKES.items():
        overrides = make(model64, name)
        assert overrides, f"{name}: nothing to plant {mistake!r} in"
        out[mistake] = {case: normalised_diff(run_graph(model64, x, overrides), right[case]) for case, x in cases}
    return out


def logits(model, x: np.ndarray) -> np.ndarray:
    """The model's pre-softmax outputs: its last layer run without its softmax."""
    import keras
    last = model.layers[-1]

    def no_softmax(layer, inputs, *a, **k):
        if type(layer).__name__ == "Dense":
            return keras.ops.matmul(inputs, layer.kernel) + layer.bias
        return inputs   # an Activation layer

    head = {} if getattr(last, "activation", None) in (None, keras.activations.linear) else {last.name: no_softmax}
    return run_graph(model, x, head)
