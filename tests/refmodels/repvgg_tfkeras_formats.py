"""RepVGG-A0 as seed 004's TF 2 code builds it (a tf_keras functional model of stock layers, auto-named, created
in the code's order), with calibrated random weights, saved in every format a tf_keras user holds. Run in its own
process (TF_USE_LEGACY_KERAS, tf_keras):

    python tests/refmodels/repvgg_tfkeras_formats.py SIZE OUT_DIR

Written from what the seed describes, not copied from it: a block is an identity BN (in == out channels and
stride 1), a 3x3 conv-BN ('same') and a 1x1 conv-BN ('same' beside an identity, else 'valid'), added in that
order, then ReLU; convolutions without bias. Stem: one block of min(64, 64 * w0) channels at stride 2; stages of
2, 4, 14, 1 blocks (first at stride 2) of int(64 w0), int(128 w1), int(256 w2), int(512 w3) channels, widths
0.75, 0.75, 0.75, 2.5; global average pooling; Dense(1000) logits.

Writes to OUT_DIR: x.npy, y32.npy / y64.npy (logits in float32 and of a float64 twin with the same weights), and
  m.weights.h5  legacy_model.h5  legacy_weights.h5  tf_weights/ckpt  ckpt_model/ckpt  savedmodel/
"""
from __future__ import annotations

import os
import sys

WIDTHS, BLOCKS = (0.75, 0.75, 0.75, 2.5), (2, 4, 14, 1)


def conv_bn(x, filters: int, kernel: int, strides: int, padding: str):
    from tf_keras import layers
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    return layers.BatchNormalization()(x)


def block(x, filters: int, strides: int):
    from tf_keras import layers
    if x.shape[-1] == filters and strides == 1:
        ident = layers.BatchNormalization()(x)
        x1 = conv_bn(x, filters, 3, strides, "same")
        x2 = conv_bn(x, filters, 1, strides, "same")
        return layers.Activation("relu")(layers.Add()([ident, x1, x2]))
    x1 = conv_bn(x, filters, 3, strides, "same")
    x2 = conv_bn(x, filters, 1, strides, "valid")
    return layers.Activation("relu")(layers.Add()([x1, x2]))


def build(size: int):
    import tf_keras
    from tf_keras import layers
    inputs = tf_keras.Input((size, size, 3))
    x = block(inputs, min(64, int(64 * WIDTHS[0])), 2)
    for n, base, w in zip(BLOCKS, (64, 128, 256, 512), WIDTHS):
        for j in range(n):
            x = block(x, int(base * w), 2 if j == 0 else 1)
    x = layers.Dense(1000)(layers.GlobalAveragePooling2D()(x))
    return tf_keras.Model(inputs, x)


def main(size: str, out: str) -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from modelgarden_formats import randomize
    size = int(size)
    os.makedirs(out, exist_ok=True)
    model = build(size)
    x = np.random.default_rng(11).standard_normal((2, size, size, 3)).astype(np.float32)
    randomize(model, x, seed=4)
    p = lambda *a: os.path.join(out, *a)   # noqa: E731
    np.save(p("x.npy"), x)
    np.save(p("y32.npy"), np.asarray(model(x, training=False)))
    model.save_weights(p("m.weights.h5"))
    model.save(p("legacy_model.h5"))
    model.save_weights(p("legacy_weights.h5"), save_format="h5")
    model.save_weights(p("tf_weights", "ckpt"))
    tf.train.Checkpoint(model=model).write(p("ckpt_model", "ckpt"))
    model.save(p("savedmodel"))
    tf_keras.backend.set_floatx("float64")
    twin = build(size)
    twin.set_weights([w.astype(np.float64) for w in model.get_weights()])
    np.save(p("y64.npy"), np.asarray(twin(x.astype(np.float64), training=False)))


if __name__ == "__main__":
    main(*sys.argv[1:])
