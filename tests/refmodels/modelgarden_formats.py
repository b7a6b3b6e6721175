"""TF Model Garden's SpineNet-49 (official.vision, tf_keras) with calibrated random weights, saved in every format a
Model Garden user holds. Run in its own process (TF_USE_LEGACY_KERAS, tf_keras):

    python tests/refmodels/modelgarden_formats.py TFM_PATH SIZE OUT_DIR

TFM_PATH holds tf-models-official 2.20.0 (`pip install --no-deps`; the Makefile installs it for the tests, or
NETC_TF_MODELS_PATH names a folder). Only `official.vision.modeling.backbones.spinenet` and the modules it
imports are loaded: the package `__init__` files (which import every model family and gin) are bypassed,
and three imports the SpineNet code does not use when building (the backbone factory's registry decorator,
hyperparams.Config as a type annotation, the NLP transformer layers nn_blocks subclasses) are stand-ins.

Writes to OUT_DIR: x.npy (input), y32.npz / y64.npz (the five levels' outputs, float32 and a float64 twin with
the same weights), and the weights as
  m.weights.h5           model.save_weights (tf_keras's HDF5 of nested layers)
  legacy_model.h5        model.save(".h5") (its config names the custom SpineNet class)
  legacy_weights.h5      model.save_weights(".h5", save_format="h5")
  tf_weights/ckpt        model.save_weights (TF format)
  ckpt_model/ckpt        tf.train.Checkpoint(model=m).write
  ckpt_backbone/ckpt     tf.train.Checkpoint(backbone=m).write
  ckpt_detector/ckpt     a detector's trainer checkpoint: model (backbone + head), optimizer with slots, step
  savedmodel/            model.save (a tf_keras SavedModel)
  savedmodel_notraces/   model.save(save_traces=False)
"""
from __future__ import annotations

import os
import sys
import types


def load_spinenet(tfm: str):
    """official.vision's SpineNet module, imported from TFM_PATH without the package __init__ files."""
    import tf_keras
    for name in ["official", "official.vision", "official.vision.modeling", "official.vision.modeling.backbones",
                 "official.vision.modeling.layers", "official.vision.ops", "official.modeling", "official.nlp"]:
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(tfm, *name.split("."))]
        sys.modules.setdefault(name, mod)
    stand_ins = {
        "official.vision.modeling.backbones.factory": {"register_backbone_builder": lambda key: (lambda f: f)},
        "official.modeling.hyperparams": {"Config": object},
        "official.nlp.modeling": {"layers": types.SimpleNamespace(TransformerEncoderBlock=tf_keras.layers.Layer,
                                                                  TransformerScaffold=tf_keras.layers.Layer)},
    }
    for name, attrs in stand_ins.items():
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules.setdefault(name, mod)
    from official.vision.modeling.backbones import spinenet
    return spinenet


def build(spinenet, size: int):
    import tf_keras
    cfg = {k: spinenet.SCALING_MAP["49"][k] for k in ("endpoints_num_filters", "filter_size_scale",
                                                      "resample_alpha", "block_repeats")}
    return spinenet.SpineNet(input_specs=tf_keras.layers.InputSpec(shape=[None, size, size, 3]), **cfg)


def randomize(model, x, seed: int = 0) -> None:
    """He-normal kernels, gamma/beta of order one, then each BN's moving statistics set to its batch statistics
    on ``x`` (momentum 0, one training-mode call): outputs of order one, as in a trained network."""
    import numpy as np
    import tf_keras
    rng = np.random.default_rng(seed)
    bns = []
    for v in model.weights:
        shape, name = tuple(v.shape), v.name
        if "gamma" in name:
            v.assign(rng.uniform(0.5, 1.5, shape))
        elif "beta" in name:
            v.assign(rng.normal(0.1, 0.1, shape))
        elif "moving" in name:
            continue
        else:
            fan = int(np.prod(shape[:-1])) or 1
            v.assign(rng.normal(0, np.sqrt(2.0 / fan), shape))

    def visit(layer):
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            bns.append(layer)
        for sub in getattr(layer, "_self_tracked_trackables", []):
            if isinstance(sub, tf_keras.layers.Layer):
                visit(sub)
    for layer in model.layers:
        visit(layer)
    for bn in bns:
        bn.momentum = 0.0
    model(x, training=True)
    for bn in bns:
        bn.momentum = 0.99


def outputs(model, x):
    import numpy as np
    out = model(x, training=False)
    return {str(k): np.asarray(v) for k, v in out.items()}


def main(tfm: str, size: str, out: str) -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, tfm)
    import numpy as np
    import tensorflow as tf
    import tf_keras
    size = int(size)
    os.makedirs(out, exist_ok=True)
    spinenet = load_spinenet(tfm)
    model = build(spinenet, size)
    x = np.random.default_rng(7).standard_normal((1, size, size, 3)).astype(np.float32)
    randomize(model, x)
    np.save(os.path.join(out, "x.npy"), x)
    np.savez(os.path.join(out, "y32.npz"), **outputs(model, x))
    p = lambda *a: os.path.join(out, *a)   # noqa: E731
    model.save_weights(p("m.weights.h5"))
    model.save(p("legacy_model.h5"))
    model.save_weights(p("legacy_weights.h5"), save_format="h5")
    model.save_weights(p("tf_weights", "ckpt"))
    tf.train.Checkpoint(model=model).write(p("ckpt_model", "ckpt"))
    tf.train.Checkpoint(backbone=model).write(p("ckpt_backbone", "ckpt"))
    _detector_checkpoint(model, x, p("ckpt_detector", "ckpt"))
    model.save(p("savedmodel"))
    model.save(p("savedmodel_notraces"), save_traces=False)
    # the float64 twin: the same weights in a float64 model
    tf_keras.backend.set_floatx("float64")
    twin = build(spinenet, size)
    twin.set_weights([w.astype(np.float64) for w in model.get_weights()])
    np.savez(p("y64.npz"), **outputs(twin, x.astype(np.float64)))


def _detector_checkpoint(backbone, x, path: str) -> None:
    """A trainer's checkpoint: the model (backbone + a head), an SGD optimizer with momentum slots, a step."""
    import tensorflow as tf
    import tf_keras

    class Detector(tf_keras.Model):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone
            self.head = tf_keras.layers.Conv2D(4, 3, padding="same")

        def call(self, x, training=None):
            return self.head(self.backbone(x, training=training)["3"])

    det = Detector(backbone)
    det.head.build((None, None, None, backbone.output_specs["3"][-1]))   # built as a call would, without one
    opt = tf_keras.optimizers.SGD(1e-9, momentum=0.9)
    opt.build(det.trainable_variables)   # a momentum slot per variable, as a training step makes
    step = tf.Variable(1, dtype=tf.int64)
    tf.train.Checkpoint(model=det, optimizer=opt, global_step=step).write(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
