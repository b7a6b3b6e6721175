"""Run seed 003's own code (TF Model Garden, tf_keras) with the weights of our Keras 3 reference.

Run in a separate process (it needs TF_USE_LEGACY_KERAS and tf_keras, which the test process must not load):

    python tests/refmodels/spinenet_modelgarden.py TFM_PATH MODEL_ID SIZE weights.npz input.npy out.npz [float64]

TFM_PATH holds tf-models-official 2.20.0 and tf-keras 2.21.0, installed without their dependencies
(`pip install --no-deps --target TFM_PATH tf-models-official==2.20.0 tf-keras==2.21.0`): the legacy SpineNet
needs only TensorFlow, tf_keras, absl and six. weights.npz maps our layer names to their arrays (conv:
kernel; BN: gamma, beta, moving mean, moving variance, as `name:0` .. `name:3`). Model Garden's layers are
paired with ours by creation order (recorded by wrapping the two classes' constructors while the model
is built), and each pair's shapes are checked. Writes the model's count of parameters, its outputs
for input.npy (levels 3..7) and the pairing to out.npz.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    tfm, model_id, size, weights_path, input_path, out_path, *rest = argv
    dtype = rest[0] if rest else "float32"
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    sys.path.insert(0, tfm)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import numpy as np
    import tf_keras
    from official.legacy.detection.modeling.architecture import spinenet as mg

    from tests.refmodels import spinenet as ours

    size = int(size)
    tf_keras.backend.set_floatx(dtype)
    created = {"conv": [], "bn": []}
    for kind, cls in (("conv", tf_keras.layers.Conv2D), ("bn", tf_keras.layers.BatchNormalization)):
        def recording_init(self, *args, _init=cls.__init__, _kind=kind, **kwargs):
            _init(self, *args, **kwargs)
            created[_kind].append(self)
        cls.__init__ = recording_init
    model = mg.SpineNet(input_specs=tf_keras.layers.InputSpec(shape=[None, size, size, 3]),
                        **mg.SCALING_MAP[model_id])
    weights = np.load(weights_path)
    order = ours.creation_order(ours.plan(model_id, size))
    pairs, seen = [], {"conv": 0, "bn": 0}
    for name, kind, _ in order:
        layer = created[kind][seen[kind]]
        seen[kind] += 1
        arrays = [weights[f"{name}:{i}"].astype(dtype) for i in range(len(layer.get_weights()))]
        for have, new in zip(layer.get_weights(), arrays):
            if have.shape != new.shape:
                raise SystemExit(f"shape mismatch: {name} {new.shape} vs {layer.name} {have.shape}")
        layer.set_weights(arrays)
        pairs.append(f"{name}={layer.name}")
    if any(seen[k] != len(created[k]) for k in created):
        raise SystemExit(f"unpaired layers: ours {seen}, Model Garden {({k: len(v) for k, v in created.items()})}")
    outs = model(np.load(input_path).astype(dtype), training=False)
    np.savez(out_path, params=np.int64(model.count_params()), pairs=np.array(pairs),
             **{f"p{lv}": outs[lv].numpy() for lv in sorted(outs)})


if __name__ == "__main__":
    main(sys.argv[1:])
