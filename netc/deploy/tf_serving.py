"""A TensorFlow Serving model base path: ``models/<model>/1/`` holding a SavedModel whose
``serving_default`` signature takes the spec's inputs and returns the spec's outputs, by their names
(NHWC, float32, any batch size)."""
from __future__ import annotations

import os


def export(model, base: str, name: str, version: int = 1, deploy: bool = False) -> str:
    """Export ``model`` (a compiled netc Model; its deployed form with ``deploy``) to ``base/<name>/<version>``;
    returns that directory."""
    import keras
    import tensorflow as tf

    from netc.deploy.layout import TF_SERVING_VERSION, check_layout, write_dir
    check_layout(base, "tf-serving")
    graph = model.graph
    out_names = [n for n, _ in graph.outputs]
    specs = [tf.TensorSpec((None, *v.shape[1:]), tf.float32, name=v.name) for v in graph.inputs]
    keras_model = model.to_keras(deploy=deploy)

    def serve(*xs):
        ys = keras_model(list(xs) if len(xs) > 1 else xs[0], training=False)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        return {n: tf.identity(y, name=n) for n, y in zip(out_names, ys)}

    def fill(tmp: str) -> None:
        archive = keras.export.ExportArchive()
        archive.track(keras_model)
        archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
        archive.write_out(tmp, verbose=False)

    target = os.path.join(base, name, str(version))
    write_dir(target, fill, TF_SERVING_VERSION)
    return target
