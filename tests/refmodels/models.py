"""The reference classifiers, by name: construction, parameter counts, and the seeded, calibrated build."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

from refmodels import repvgg
from refmodels.weights import calibrate, calibration_batch, finalize_normalization, randomize


@dataclass(frozen=True)
class Reference:
    name: str
    construct: Callable[[int], object]   # input size (px) -> Keras model with Keras' initial weights
    params: int                          # total parameters (independent of the input size)
    trainable: int
    description: str


def _mobilenet_v2_140(size: int):
    import keras
    return keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=1.4, weights=None, classes=1000)


def _mobilenet_v3_large(size: int):
    import keras
    return keras.applications.MobileNetV3Large(input_shape=(size, size, 3), weights=None, classes=1000,
                                               include_preprocessing=False)


def _resnet50(size: int):
    import keras
    return keras.applications.ResNet50(input_shape=(size, size, 3), weights=None, classes=1000)


def _repvgg_a0(size: int):
    return repvgg.repvgg((size, size, 3), 1000)


REFERENCES: dict[str, Reference] = {r.name: r for r in [
    Reference("mobilenet_v2_140", _mobilenet_v2_140, 6_156_712, 6_108_776,
              "keras.applications.MobileNetV2(alpha=1.4, weights=None)"),
    Reference("mobilenet_v3_large", _mobilenet_v3_large, 5_507_432, 5_483_032,
              "keras.applications.MobileNetV3Large(include_preprocessing=False, weights=None)"),
    Reference("resnet50", _resnet50, 25_636_712, 25_583_592, "keras.applications.ResNet50(weights=None)"),
    Reference("repvgg_a0", _repvgg_a0, 9_132_616, 9_108_968, "RepVGG-A0 of seed 004, training form"),
]}
REPVGG_A0_DEPLOY_PARAMS = 8_309_384


def _zoo() -> dict[str, Reference]:
    from refmodels.zoo import ZOO   # specs/zoo/'s references, by the same rules
    return ZOO


CLASSIFIERS = tuple(sorted(REFERENCES))   # the seeds' classifiers; the zoo's references are tested in test_zoo
REFERENCES.update(_zoo())
MIN_SIZE = 32   # every reference accepts any square size >= 32 px; CI uses 96 or 128


@contextlib.contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """Build Keras layers in ``dtype`` (their variables and computations)."""
    import keras
    old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)   # the policy, once read, no longer follows floatx
    try:
        yield
    finally:
        keras.config.set_floatx(old)
        keras.config.set_dtype_policy(old_policy)


def build(name: str, seed: int = 0, size: int = 224, var_floor: float = 0.0):
    """Reference ``name`` at ``size`` px with every weight drawn from ``seed`` and its BN statistics calibrated."""
    ref = REFERENCES[name]
    if size < MIN_SIZE:
        raise ValueError(f"{name}: input size {size} px is below {MIN_SIZE}")
    model = ref.construct(size)
    randomize(model, seed)
    calibrate(model, calibration_batch(model, seed, calibration_size(model)), var_floor)
    return model


def calibration_size(model, samples: int = 16, least: int = 4) -> int:
    """Calibration images enough for every BN to see ``samples`` values per channel: 4 where the smallest
    feature map holds 3x3 or more, more where a family ends at 1x1 at CI's size (InceptionV3 at 75 px, whose
    last BNs calibrated on 4 values give logits of 600)."""
    import math
    pixels = [math.prod(layer.input.shape[1:-1]) for layer in model.layers
              if type(layer).__name__ == "BatchNormalization" and len(layer.input.shape) == 4]
    return max(least, math.ceil(samples / min(pixels))) if pixels else least


def in_dtype(model, name: str, dtype: str):
    """Reference ``name`` rebuilt in ``dtype`` (float64 for the exact twin) holding ``model``'s weights."""
    with floatx(dtype):
        twin = REFERENCES[name].construct(model.inputs[0].shape[1])
    twin.set_weights([w if w.dtype.kind in "iu" else w.astype(dtype) for w in model.get_weights()])
    finalize_normalization(twin)
    return twin
