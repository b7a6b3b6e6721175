"""Deterministic weight initialisation, independent of node order.

Each weight draws from its own generator seeded by ``(seed, crc32(name))``, so adding a block
never changes the other blocks' weights, and the same spec and seed give the same bytes.
"""
from __future__ import annotations

import zlib

import numpy as np

from netc.ir.graph import Graph, Weight

WeightValues = dict[str, np.ndarray]


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode())])


_CHUNK = 1 << 22   # values drawn at a time for a big kernel: its float64 draws stay at 32 MiB


def _glorot(w: Weight, rng: np.random.Generator) -> np.ndarray:
    """Glorot-uniform in ``ext_shape`` order; a big kernel is drawn in chunks (the same stream, so the same
    values as one draw) into float32, never holding the whole kernel in float64."""
    fan_in, fan_out = w.fans
    limit = np.sqrt(6.0 / max(1, fan_in + fan_out))
    size = int(np.prod(w.ext_shape))
    if size <= _CHUNK:
        return rng.uniform(-limit, limit, size=w.ext_shape).astype(np.float32).reshape(w.shape)
    out = np.empty(size, np.float32)
    for i in range(0, size, _CHUNK):
        out[i:i + _CHUNK] = rng.uniform(-limit, limit, size=min(_CHUNK, size - i))
    return out.reshape(w.shape)


def init_value(w: Weight, seed: int, randomize: bool = False) -> np.ndarray:
    """Keras defaults (glorot-uniform kernels, zero bias, BN 1/0/0/1, PReLU alpha 0); with
    ``randomize`` every non-kernel weight is drawn at random too, as ``netc check`` needs."""
    role = w.role
    if role == "count":   # Keras Normalization's sample count: no effect on outputs
        return np.zeros(w.shape, np.float32)
    if not randomize and role not in ("kernel", "depthwise_kernel"):
        return (np.ones if role in ("gamma", "moving_variance") else np.zeros)(w.shape, np.float32)
    rng = _rng(seed, w.name)   # seeding costs more than filling: only for values drawn at random
    if role in ("kernel", "depthwise_kernel"):
        return _glorot(w, rng)
    if role in ("gamma", "moving_variance"):
        return rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32)
    if role in ("beta", "moving_mean"):
        return rng.normal(0.0, 0.1, size=w.shape).astype(np.float32)
    if role == "alpha":
        return rng.uniform(0.05, 0.3, size=w.shape).astype(np.float32)
    if role == "bias":
        return rng.normal(0.0, 0.05, size=w.shape).astype(np.float32)
    raise ValueError(f"unknown weight role {role!r}")


def init_weights(graph: Graph, seed: int = 0, randomize: bool = False) -> WeightValues:
    """Values for every weight of ``graph``, keyed by weight name, in IR layout, float32."""
    return {w.name: init_value(w, seed, randomize) for w in graph.weights}
