"""Random weights from a seed, and BN moving statistics calibrated to the data each BN receives.

Every variable is drawn (kernels, biases, BN gamma and beta), not left at Keras' initial values, so
that a weight loaded into the wrong slot changes the outputs. Kernels are scaled by 1/sqrt(fan_in);
the BN statistics are then set, layer by layer in topological order, to the batch mean and variance
of a calibration batch at that BN's input: every BN emits features of order one and the outputs of a
50-layer model still depend on its input (random statistics make them grow to 1e4 or vanish).
"""
from __future__ import annotations

import numpy as np

from refmodels.graphrun import run_graph



def _draw(role: str, shape: tuple[int, ...], rng: np.random.Generator, depthwise: bool) -> np.ndarray:
    if role == "kernel":   # Conv2D (kh, kw, in, out), DepthwiseConv2D (kh, kw, C, 1), Dense (in, out)
        fan_in = int(np.prod(shape[:-2] if depthwise else shape[:-1]))
        return rng.standard_normal(shape) / np.sqrt(fan_in)
    if role in ("depthwise_kernel", "pointwise_kernel"):   # SeparableConv2D: (kh, kw, C, 1) and (1, 1, C, out)
        fan_in = int(np.prod(shape[:2])) if role == "depthwise_kernel" else int(shape[2])
        return rng.standard_normal(shape) / np.sqrt(fan_in)
    if role == "bias":
        return rng.normal(0.0, 0.1, shape)
    if role == "gamma":
        return rng.uniform(0.5, 1.5, shape)
    if role == "beta":
        return rng.normal(0.0, 0.2, shape)
    if role == "moving_mean":
        return np.zeros(shape)
    if role == "moving_variance":
        return np.ones(shape)
    if role == "mean":        # Keras Normalization (EfficientNet): statistics of an image scaled to [0, 1]
        return rng.uniform(0.3, 0.6, shape)
    if role == "variance":
        return rng.uniform(0.03, 0.09, shape)
    if role == "count":
        return np.full(shape, 1000)
    if role.startswith("variable"):   # ConvNeXt's LayerScale gamma: residual branches kept below the trunk
        return rng.uniform(0.1, 0.3, shape)
    raise ValueError(f"no rule to draw a weight named {role!r}")


def randomize(model, seed: int) -> None:
    """Give every variable of ``model`` a value drawn from ``seed`` (the i-th variable from stream (seed, i))."""
    depthwise = {id(v) for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D" for v in layer.weights}
    for i, var in enumerate(model.weights):
        role = var.path.rsplit("/", 1)[-1]
        rng = np.random.default_rng([seed, i])
        value = _draw(role, tuple(var.shape), rng, depthwise=id(var) in depthwise)
        var.assign(value.astype(var.dtype))
    finalize_normalization(model)


def finalize_normalization(model) -> None:
    """Keras Normalization derives its mean and variance tensors from its weights only when built or loaded:
    after assigning the weights, derive them again."""
    for layer in model.layers:
        if type(layer).__name__ == "Normalization" and getattr(layer, "adapt_mean", None) is not None:
            layer.finalize_state()


def calibration_batch(model, seed: int, batch: int = 4) -> np.ndarray:
    """Images as netc check's BN calibration draws them (netc/samples.py): raw pixels, NHWC, at the model's
    input size."""
    from netc.samples import draw
    return draw({"x": tuple(model.inputs[0].shape[1:])}, seed, purpose="bn calibration", batch=batch)["x"]


def calibrate(model, x: np.ndarray, var_floor: float = 0.0) -> dict[str, tuple[float, float]]:
    """Set every BatchNormalization's moving statistics to the batch statistics of its input on ``x``.

    ``var_floor`` (relative to the layer's median variance) keeps dead or constant channels from
    dividing by sqrt(epsilon). Returns, per BN layer, the median mean and variance it was given.
    """
    seen: dict[str, tuple[float, float]] = {}

    def bn(layer, inputs, *args, **kwargs):
        a = np.asarray(inputs, dtype=np.float64)
        axes = tuple(range(a.ndim - 1))
        mean, var = a.mean(axis=axes), a.var(axis=axes)
        if var_floor:
            var = np.maximum(var, var_floor * float(np.median(var)))
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(var.astype(layer.moving_variance.dtype))
        seen[layer.name] = (float(np.median(mean)), float(np.median(var)))
        return layer(inputs, *args, **kwargs)

    overrides = {layer.name: bn for layer in model.layers if type(layer).__name__ == "BatchNormalization"}
    run_graph(model, x, overrides)
    return seen
