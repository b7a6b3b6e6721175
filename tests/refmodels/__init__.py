"""Reference Keras models that netc's classifier specs are compared against (issues 9 and 11).

``build(name, seed, size)`` gives a keras.applications model (or seed 004's RepVGG-A0) with every
weight drawn from ``seed`` and its BN statistics calibrated; ``in_dtype`` rebuilds it in float64;
``repvgg.to_deploy`` re-parameterises RepVGG; ``noise`` measures float32 against float64.
"""
from refmodels.models import REFERENCES, REPVGG_A0_DEPLOY_PARAMS, build, floatx, in_dtype

__all__ = ["REFERENCES", "REPVGG_A0_DEPLOY_PARAMS", "build", "floatx", "in_dtype"]
