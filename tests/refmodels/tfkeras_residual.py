"""A small tf_keras (legacy Keras 2) residual network whose look-alike convs only the graph tells apart.

Run in its own process (tf_keras must not share a process with Keras 3 under TF_USE_LEGACY_KERAS):

    python tests/refmodels/tfkeras_residual.py OUT_DIR [ORDER]

A 3x3 s2 stem conv-BN-ReLU to 64 channels, then one bottleneck block layer (Model Garden's nn_blocks
shape: attribute-named sublayers) with a 1x1 projection shortcut 64 -> 256 and a third 1x1 conv 64 -> 256:
the same kind and shapes. ORDER "shortcut-last" (default) creates the shortcut after the three convs, so
creation order and names (`conv2d_2`, `conv2d_3`) disagree with netc's spec order (shortcut first).
Writes OUT_DIR/sm (a SavedModel, `model.save`), OUT_DIR/x.npy and the model's float32 outputs OUT_DIR/y.npy.
"""
from __future__ import annotations

import os
import sys

SPEC = """input img# 32x32x3
stem#:
    select:img#
    cbn_k3_s2_c64_nre
    s1#spblk_l2_tb_fs1_r1
output stem#
"""


def main(out: str, order: str = "shortcut-last") -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    import tf_keras as K
    L = K.layers

    class Bottleneck(L.Layer):
        def __init__(self, filters: int, **kw):
            super().__init__(**kw)
            self.filters = filters

        def build(self, shape):
            f = self.filters
            if order == "shortcut-first":
                self._shortcut, self._norm0 = L.Conv2D(4 * f, 1, use_bias=False), L.BatchNormalization()
            self._conv1, self._norm1 = L.Conv2D(f, 1, use_bias=False), L.BatchNormalization()
            self._conv2, self._norm2 = L.Conv2D(f, 3, padding="same", use_bias=False), L.BatchNormalization()
            self._conv3, self._norm3 = L.Conv2D(4 * f, 1, use_bias=False), L.BatchNormalization()
            if order != "shortcut-first":
                self._shortcut, self._norm0 = L.Conv2D(4 * f, 1, use_bias=False), L.BatchNormalization()
            super().build(shape)

        def call(self, x, training=None):
            sc = self._norm0(self._shortcut(x), training=training)
            y = tf.nn.relu(self._norm1(self._conv1(x), training=training))
            y = tf.nn.relu(self._norm2(self._conv2(y), training=training))
            return tf.nn.relu(self._norm3(self._conv3(y), training=training) + sc)

    inp = K.Input((32, 32, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(64, 3, strides=2, padding="same", use_bias=False)(inp)))
    model = K.Model(inp, Bottleneck(64)(x))
    rng = np.random.default_rng(0)
    for v in model.weights:
        if "moving_variance" in v.name:
            v.assign(rng.uniform(0.5, 2.0, v.shape))
        elif "gamma" in v.name:
            v.assign(rng.uniform(0.5, 1.5, v.shape))
        else:
            fan = int(np.prod(v.shape[:-1])) or 1
            v.assign(rng.standard_normal(v.shape) / np.sqrt(fan))
    model.save(os.path.join(out, "sm"))
    x = rng.standard_normal((2, 32, 32, 3)).astype(np.float32)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "y.npy"), model(x, training=False).numpy())


if __name__ == "__main__":
    main(*sys.argv[1:])
