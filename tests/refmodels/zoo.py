"""The keras.applications references of specs/zoo/: constructors (any square size the family allows) and the
parameter counts the issue states for them (built without the final softmax: the tests compare logits; the
counts are the same) (keras.applications.X(weights=None).count_params() at 224 px, or
299 px for the Inception family and Xception), measured once and kept here as the independent facts."""
from __future__ import annotations

from refmodels.models import Reference


def _app(cls: str, **kw):
    def construct(size: int):
        import keras
        return getattr(keras.applications, cls)(input_shape=(size, size, 3), weights=None, classes=1000,
                                                classifier_activation=None, **kw)
    return construct


ZOO: dict[str, Reference] = {r.name: r for r in [
    Reference("mobilenet", _app("MobileNet", alpha=1.0), 4_253_864, 4_231_976, "MobileNet(alpha=1.0)"),
    Reference("vgg16", _app("VGG16"), 138_357_544, 138_357_544, "VGG16()"),
    Reference("resnet101", _app("ResNet101"), 44_707_176, 44_601_832, "ResNet101()"),
    Reference("resnet50v2", _app("ResNet50V2"), 25_613_800, 25_568_360, "ResNet50V2()"),
    Reference("densenet121", _app("DenseNet121"), 8_062_504, 7_978_856, "DenseNet121()"),
    Reference("efficientnet_b0", _app("EfficientNetB0"), 5_330_571, 5_288_548, "EfficientNetB0()"),
    Reference("efficientnetv2_b0", _app("EfficientNetV2B0"), 7_200_312, 7_139_704, "EfficientNetV2B0()"),
    Reference("convnext_tiny", _app("ConvNeXtTiny"), 28_589_128, 28_589_128, "ConvNeXtTiny()"),
    Reference("inception_v3", _app("InceptionV3"), 23_851_784, 23_817_352, "InceptionV3() at 299 px"),
    Reference("inception_resnet_v2", _app("InceptionResNetV2"), 55_873_736, 55_813_192,
              "InceptionResNetV2() at 299 px"),
    Reference("xception", _app("Xception"), 22_910_480, 22_855_952, "Xception() at 299 px"),
    Reference("nasnet_mobile", _app("NASNetMobile"), 5_326_716, 5_289_978, "NASNetMobile()"),
]}

#: Input size of each spec as written (the Inception family and Xception are 299 px).
FULL_SIZE = {name: 299 if name in ("inception_v3", "inception_resnet_v2", "xception") else 224 for name in ZOO}
#: Where the family's weights (not only its activations) depend on the input size: VGG16's first dense layer.
SIZE_DEPENDENT = {"vgg16"}


def _snake(name: str) -> str:
    from keras.src.utils.naming import to_snake_case   # the rule Keras names a class's file entries by
    return to_snake_case(name)


def weights_h5_names(model, prefix: str = "") -> dict[str, str]:
    """Each layer's name in the model's `.weights.h5` file: Keras 3 files a layer under its class in snake case,
    numbered per class in the order of ``model.layers`` (`conv2d`, `conv2d_1`, ...; a nested model's layers under
    its own name)."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for layer in model.layers:
        base = _snake(type(layer).__name__)
        i = seen.get(base, 0)
        seen[base] = i + 1
        name = f"{prefix}{base}" + (f"_{i}" if i else "")
        if hasattr(layer, "layers"):
            out.update(weights_h5_names(layer, f"{name}/"))
        else:
            out[layer.name] = name
    return out
