"""RepVGG (seed 004) in Keras 3: the training form with three branches, and the re-parameterised deploy form.

Written from what the seed's TF 2 code describes, not copied from it:
- a block is conv3x3-BN + conv1x1-BN (+ a BN on the input when in == out channels and stride 1), summed,
  then ReLU. Convolutions have no bias; BNs are Keras defaults (epsilon 1e-3, momentum 0.99).
- the 3x3 conv uses TF 'same' padding; the 1x1 conv uses 'same' in identity blocks and 'valid' in the
  others (at stride 2 on an even size it samples the top-left pixel of the 3x3 window, TF SAME padding
  being (0, 1) there).
- stem: one block of min(64, 64*w0) channels at stride 2; four stages of 64*w0, 128*w1, 256*w2, 512*w3
  channels (int() truncation), the first block of each at stride 2; then global average pooling and a
  Dense layer with bias and no activation (logits).
- deploy form: each block is one 3x3 conv with bias (same stride, 'same' padding) then ReLU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

A0 = {"num_blocks": (2, 4, 14, 1), "widths": (0.75, 0.75, 0.75, 2.5)}


@dataclass(frozen=True)
class BlockPlan:
    prefix: str
    filters: int
    stride: int
    groups: int


def plan(num_blocks=A0["num_blocks"], widths=A0["widths"], groups_map: dict[int, int] | None = None) -> list[BlockPlan]:
    """The blocks of a RepVGG, in order: the stem then the stages (layer ids count from 1 within each stage, as the seed does)."""
    groups_map = groups_map or {}
    blocks = [BlockPlan("stage0", min(64, int(64 * widths[0])), 2, 1)]
    for s, (n, base, w) in enumerate(zip(num_blocks, (64, 128, 256, 512), widths), start=1):
        for j in range(n):
            blocks.append(BlockPlan(f"stage{s}_{j}", int(base * w), 2 if j == 0 else 1, groups_map.get(j + 1, 1)))
    return blocks


def _conv_bn(x, b: BlockPlan, kernel: int, padding: str, tag: str):
    from keras import layers
    x = layers.Conv2D(b.filters, kernel, strides=b.stride, padding=padding, groups=b.groups, use_bias=False,
                      name=f"{b.prefix}_{tag}_conv")(x)
    return layers.BatchNormalization(name=f"{b.prefix}_{tag}_bn")(x)


def has_identity(in_channels: int, b: BlockPlan) -> bool:
    return in_channels == b.filters and b.stride == 1


def _block(x, b: BlockPlan, deploy: bool):
    from keras import layers
    if deploy:
        x = layers.Conv2D(b.filters, 3, strides=b.stride, padding="same", groups=b.groups, use_bias=True,
                          name=f"{b.prefix}_reparam_conv")(x)
        return layers.ReLU(name=f"{b.prefix}_relu")(x)
    if has_identity(x.shape[-1], b):
        branches = [layers.BatchNormalization(name=f"{b.prefix}_identity_bn")(x),
                    _conv_bn(x, b, 3, "same", "dense"), _conv_bn(x, b, 1, "same", "1x1")]
    else:
        branches = [_conv_bn(x, b, 3, "same", "dense"), _conv_bn(x, b, 1, "valid", "1x1")]
    x = layers.Add(name=f"{b.prefix}_add")(branches)
    return layers.ReLU(name=f"{b.prefix}_relu")(x)


def repvgg(input_shape=(224, 224, 3), classes: int = 1000, deploy: bool = False, num_blocks=A0["num_blocks"],
           widths=A0["widths"], groups_map: dict[int, int] | None = None, name: str = "repvgg_a0"):
    """A RepVGG as a Keras functional model (A0 by default), training form or deploy form."""
    import keras
    from keras import layers
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for b in plan(num_blocks, widths, groups_map):
        x = _block(x, b, deploy)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(classes, name="linear")(x)
    return keras.Model(inputs, x, name=name + ("_deploy" if deploy else ""))


def _bn_scale(layer) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in layer.get_weights())
    t = gamma / np.sqrt(var + layer.epsilon)
    return t, beta - mean * t


def _same_pad_before(size: int, kernel: int, stride: int) -> int:
    out = -(-size // stride)
    return max((out - 1) * stride + kernel - size, 0) // 2


def fuse_block(model, b: BlockPlan) -> tuple[np.ndarray, np.ndarray]:
    """One block's (3x3 kernel HWIO, bias), in float64, equal to its three branches with BN in inference mode.

    The 1x1 kernel goes where the 3x3 window meets the pixel the 1x1 conv samples: the centre for
    symmetric padding, the top-left for TF SAME (0, 1) padding at stride 2 on even sizes.
    """
    dense = model.get_layer(f"{b.prefix}_dense_conv")
    _, h, w, cin = dense.input.shape
    t3, b3 = _bn_scale(model.get_layer(f"{b.prefix}_dense_bn"))
    t1, b1 = _bn_scale(model.get_layer(f"{b.prefix}_1x1_bn"))
    kernel = np.asarray(dense.get_weights()[0], np.float64) * t3
    k1 = np.asarray(model.get_layer(f"{b.prefix}_1x1_conv").get_weights()[0], np.float64)[0, 0] * t1
    if b.stride == 1:
        r = c = 1
    else:
        r, c = _same_pad_before(h, 3, b.stride), _same_pad_before(w, 3, b.stride)
    kernel[r, c] += k1
    bias = b3 + b1
    if has_identity(cin, b):
        tid, bid = _bn_scale(model.get_layer(f"{b.prefix}_identity_bn"))
        per_group = cin // b.groups
        for o in range(b.filters):
            kernel[1, 1, o % per_group, o] += tid[o]
        bias = bias + bid
    return kernel, bias


def to_deploy(model, num_blocks=A0["num_blocks"], widths=A0["widths"], groups_map: dict[int, int] | None = None):
    """The deploy form of a training-form RepVGG, in the training model's dtype, weights fused in float64."""
    from refmodels.models import floatx
    dtype = str(model.inputs[0].dtype)
    with floatx(dtype):
        deployed = repvgg(tuple(model.inputs[0].shape[1:]), model.get_layer("linear").units, True,
                          num_blocks, widths, groups_map, name=model.name)
    for b in plan(num_blocks, widths, groups_map):
        kernel, bias = fuse_block(model, b)
        deployed.get_layer(f"{b.prefix}_reparam_conv").set_weights([kernel.astype(dtype), bias.astype(dtype)])
    deployed.get_layer("linear").set_weights(model.get_layer("linear").get_weights())
    return deployed
