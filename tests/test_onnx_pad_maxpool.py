"""A zero padding before a max pool survives onnxruntime's graph optimizations.

onnxruntime's Pad_Fusion rewrite (ORT_ENABLE_BASIC and up) folds a Pad of constant zero into the following
MaxPool's `pads`, which MaxPool ignores (-inf), so a border window holding only negative values loses its zero
(ResNet50V2's stem: conv, ZeroPadding2D, max pool, no activation between). netc writes that Pad's constant as -0.0.
The reference here is numpy: zero padding, then the window maximum, on an all-negative input.
"""
from __future__ import annotations

import numpy as np
import pytest

import netc

SPECS = {
    "zpad": "input x# 8x8x3\nb#:\n    select:x#\n    zpad_bot1_right1\n    maxpool_k3_s2\noutput b#\n",
    "pool p": "input x# 8x8x3\nb#:\n    select:x#\n    maxpool_k3_s2_p1\noutput b#\n",
}
PADS = {"zpad": ((0, 1), (0, 1)), "pool p": ((1, 1), (1, 1))}


def _reference(x: np.ndarray, pads) -> np.ndarray:
    p = np.pad(x, ((0, 0), *pads, (0, 0)))
    out = (p.shape[1] - 3) // 2 + 1, (p.shape[2] - 3) // 2 + 1
    return np.stack([np.stack([p[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2)) for j in range(out[1])], 1)
                     for i in range(out[0])], 1)


@pytest.mark.parametrize("form", sorted(SPECS))
def test_zero_pad_then_max_pool_under_every_ort_level(form, tmp_path):
    import onnxruntime as ort
    spec = tmp_path / "p.net"
    spec.write_text(SPECS[form])
    proto = netc.compile(str(spec)).to_onnx()
    x = -np.random.default_rng(0).uniform(1, 2, (2, 8, 8, 3)).astype(np.float32)   # all negative
    want = _reference(x, PADS[form])
    assert (want == 0).any() and (want < 0).any()   # border windows keep the pad's zero, inner ones do not
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0].transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(got, want, err_msg=str(level))
