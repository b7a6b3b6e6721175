"""Weights for `netc check` that keep signals alive through deep networks.

With Keras' default BN statistics (mean 0, variance 1) or random ones, activations shrink or blow up
layer by layer, and the outputs of a 50-layer model barely depend on its input: a comparison would then
test the bias paths only. Calibration runs the reference interpreter once on a sample input and sets every
BN layer's moving statistics from the batch statistics it sees (perturbed at random), so each BN emits
features of scale gamma, centred one standard deviation above beta: a following ReLU keeps about 84% of
them, as trained networks' BN layers ahead of a ReLU tend to. Centred on beta instead (half the units cut
at every layer), a deep ReLU network amplifies rounding exponentially with depth: SpineNet-143 at 640 px
measured float32 noise 1e-2 that way and 2e-6 this way, its outputs as dependent on the input either way.
"""
from __future__ import annotations

import zlib

import numpy as np

from netc.ir import interp
from netc.ir.graph import Graph, Node, Prim
from netc.ir.weights import WeightValues
from netc.samples import draw


def sample_inputs(graph: Graph, seed: int, batch: int = 2) -> dict[str, np.ndarray]:
    """Images as users feed them (raw pixels, NHWC), at the sizes `netc check` runs (netc/samples.py)."""
    return draw({v.name: v.shape[1:] for v in graph.inputs}, seed, purpose="bn calibration", batch=batch)


def calibrate_batchnorm(graph: Graph, weights: WeightValues, seed: int) -> WeightValues:
    """A copy of ``weights`` whose BN moving statistics match the data each BN layer receives."""
    out = dict(weights)

    def before(node: Node, xs: list[np.ndarray]) -> None:
        if node.prim is not Prim.BATCHNORM or "moving_mean" not in node.weights \
                or node.attrs.get("epsilon_rule", "add") != "add":
            return   # layer scales and Normalization layers keep their drawn values
        x = xs[0].astype(np.float64)
        axes = tuple(range(x.ndim - 1))   # every axis but the channels: (N, H, W) of an image, N of features
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(node.name.encode()), 1])
        # near-constant channels (padding borders, dead units) would amplify rounding noise: floor their variance
        var = np.maximum(var, 0.1 * float(np.median(var)) + 1e-6)
        std = np.sqrt(var)
        offset = 1.0 + rng.normal(0, 0.1, mean.shape)   # the BN's output: beta + gamma * offset on average
        out[node.weights["moving_mean"].name] = (mean - offset * std).astype(np.float32)
        out[node.weights["moving_variance"].name] = (var * rng.uniform(0.5, 1.5, var.shape)).astype(np.float32)

    interp.run(graph, out, sample_inputs(graph, seed), before=before)
    return out
