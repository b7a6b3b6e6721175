"""How `netc check` runs each backend's artifact: a :class:`Route` per column, made by the backend.

Every route's runner takes the channels-last (NHWC) feeds `check` draws and returns channels-last outputs
keyed by the graph's output names, whatever layout the artifact itself uses. A route is made only when
`check` reaches it and dropped after its run (a session or model holds its weights and memory arena).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from netc.backends import Backend
    from netc.compiler import Model

Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], Feeds]


@dataclass
class Route:
    """One column of `netc check`: ``make()`` returns (runner, the devices it runs on)."""

    label: str
    make: Callable[[], tuple[Runner, list[str]]]
    precision: str = "fp32"                 # fp16 / int8 columns are judged by netc.deploy.metrics
    classifiers: frozenset[str] = frozenset()   # outputs that are class probabilities (top-1 reported)
    fits: list[Any] | None = None           # int8: each case's quantization fit
    versus: tuple[str, str] | None = None   # (column, route label): also compare this route to that route


@dataclass
class CheckContext:
    """What `netc check` gives the backends to make their routes from."""

    model: "Model"
    cases: list[tuple[str, Feeds]]
    out_names: list[str]
    tmp: str
    deploy: bool = False
    provider: str = "cpu"
    all_routes: bool = False
    precision: str = "fp32"
    calibrate: int | None = None
    seed: int = 0
    notes: list[str] = field(default_factory=list)   # columns left out, and why
    _artifacts: dict[tuple, Any] = field(default_factory=dict)

    def artifact(self, backend: str, **options: Any) -> Any:
        """The in-memory artifact of ``backend``, made once per set of options and shared by the routes."""
        key = (backend, tuple(sorted(options.items())))
        if key not in self._artifacts:
            self._artifacts[key] = self.model.artifact(backend, **options)
        return self._artifacts[key]


# ----------------------------------------------------------------------------- runners
def ort_runner(proto_bytes: bytes, level: str, provider: str, nchw: bool) -> tuple[Runner, list[str]]:
    """Run an ONNX model on NHWC feeds; ``nchw`` says its inputs/outputs are NCHW (netc's default)."""
    from netc.deploy.providers import session
    sess = session(proto_bytes, provider, level=level)   # NetcError if the provider is missing
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]

    def run(feeds: Feeds) -> Feeds:
        f = {n: (x.transpose(0, 3, 1, 2) if nchw and x.ndim == 4 else x) for n, x in zip(in_names, feeds.values())}
        outs = sess.run(out_names, f)
        return {n: (o.transpose(0, 2, 3, 1) if nchw and o.ndim == 4 else o) for n, o in zip(out_names, outs)}

    return run, sess.get_providers()


def keras_runner(keras_model: Any, out_names: list[str]) -> Runner:
    """The Keras model called in a ``tf.function``: TensorFlow's graph executor frees each intermediate tensor
    after its last use, where Keras' eager call holds all of them to the end (for SpineNet-190 at 640 px,
    batch 2, some 10 GB in float32 and 20 GB for the float64 twin)."""
    import tensorflow as tf
    specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in keras_model.inputs]
    call = tf.function(lambda *xs: keras_model(list(xs) if len(xs) > 1 else xs[0], training=False),
                       input_signature=specs)

    def run(feeds: Feeds) -> Feeds:
        outs = call(*feeds.values())
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return {n: np.asarray(o) for n, o in zip(out_names, outs)}
    return run


def tf_devices() -> list[str]:
    import tensorflow as tf
    return [d.device_type for d in tf.config.list_logical_devices()]


def savedmodel_runner(keras_model: Any, out_names: list[str], tmp: str) -> Runner:
    import tensorflow as tf
    from netc.backends.keras_backend import export_savedmodel
    path = os.path.join(tmp, "savedmodel")
    export_savedmodel(keras_model, path)
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serve"]
    arg_names = sorted(serve.structured_input_signature[1].keys())

    def run(feeds: Feeds) -> Feeds:
        kwargs = {a: tf.constant(x) for a, x in zip(arg_names, feeds.values())}
        res = serve(**kwargs)
        keys = sorted(res.keys(), key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit() else 0)
        return {n: res[k].numpy() for n, k in zip(out_names, keys)}
    return run


# ----------------------------------------------------------------------------- the reference
def reference_runner(ctx: CheckContext, dtype: str = "float32") -> Runner:
    """The reference of `netc check`: the training-form Keras model (BN in inference mode; shared with the
    routes that convert it), or its float64 twin, whose distance from it is the float32 noise the tolerance
    comes from."""
    if dtype == "float32":
        return keras_runner(ctx.artifact("keras"), ctx.out_names)
    from netc.backends.keras_backend import to_keras
    return keras_runner(to_keras(ctx.model.graph, ctx.model.weights, dtype=dtype), ctx.out_names)


def reference_description() -> tuple[str, list[str]]:
    import keras
    import tensorflow as tf
    return f"Keras {keras.__version__} on TensorFlow {tf.__version__}", tf_devices()


# ----------------------------------------------------------------------------- routes of each backend
def forms(ctx: CheckContext) -> list[tuple[bool, str]]:
    """The forms `check` runs an artifact in, as (deploy, label word): the training form always, and with
    ``--deploy`` the deployed form beside it (one run tells a backend's mistake from a deploy pass's)."""
    return [(False, "")] + ([(True, " deployed")] if ctx.deploy else [])


def onnx_routes(ctx: CheckContext) -> list[Route]:
    """netc's ONNX on onnxruntime with graph optimisations off and fully on, in each form (:func:`forms`); on
    another provider also the CPU run (and the two compared); with ``--precision`` the fp16 / int8 artifact
    (of the deployed form with ``--deploy``)."""
    provider = ctx.provider
    routes = []
    for deploy, word in forms(ctx):
        proto = ctx.artifact("onnx", deploy=deploy)
        blob = proto.SerializeToString()
        tag = f"onnx{word}"
        routes += [Route(f"{tag} (ort opt off)", lambda b=blob: ort_runner(b, "ORT_DISABLE_ALL", provider, nchw=True)),
                   Route(f"{tag} (ort opt all)", lambda b=blob: ort_runner(b, "ORT_ENABLE_ALL", provider, nchw=True),
                         versus=None if provider == "cpu" else (f"{provider} vs cpu{word}", f"{tag} (cpu)"))]
        if provider != "cpu":
            routes.append(Route(f"{tag} (cpu)", lambda b=blob: ort_runner(b, "ORT_ENABLE_ALL", "cpu", nchw=True)))
    if ctx.precision != "fp32":
        routes.append(_reduced_route(ctx, ctx.artifact("onnx", deploy=ctx.deploy)))
    return routes


def _reduced_route(ctx: CheckContext, proto: Any) -> Route:
    from netc.deploy.build import onnx_artifact
    from netc.deploy.metrics import classifier_outputs
    small = onnx_artifact(ctx.model, precision=ctx.precision, calibrate=ctx.calibrate, seed=ctx.seed, proto=proto)
    fits = None
    if ctx.precision == "int8":
        from netc.deploy.quant_fit import fitter
        inits = {i.name for i in proto.graph.initializer}
        onnx_inputs = [i.name for i in proto.graph.input if i.name not in inits]
        measure_fit = fitter(proto, small)
        fits = [measure_fit({n: v.transpose(0, 3, 1, 2) if v.ndim == 4 else v       # the ONNX model's NCHW
                             for n, v in zip(onnx_inputs, feeds.values())}) for _, feeds in ctx.cases]
        del measure_fit
    provider = ctx.provider
    return Route(f"onnx {ctx.precision}",
                 lambda: ort_runner(small.SerializeToString(), "ORT_ENABLE_ALL", provider, nchw=True),
                 precision=ctx.precision, classifiers=frozenset(classifier_outputs(proto)), fits=fits)


def keras_routes(backend: "Backend", ctx: CheckContext) -> list[Route]:
    """The deployed Keras model (``--deploy``); the reloaded SavedModel (``--all``). The training-form Keras
    model is the reference itself, not a column."""
    if backend.directory:
        if not ctx.all_routes:
            return []
        keras_model = ctx.artifact("keras")
        return [Route("savedmodel (tf)", lambda: (savedmodel_runner(keras_model, ctx.out_names, ctx.tmp),
                                                  tf_devices()))]
    if not ctx.deploy:
        return []
    return [Route("keras deployed (tf)",
                  lambda: (keras_runner(ctx.model.to_keras(deploy=True), ctx.out_names), tf_devices()))]


def tf2onnx_routes(ctx: CheckContext) -> list[Route]:
    """The reference Keras model converted by tf2onnx (``--all``), on onnxruntime (NHWC)."""
    if not ctx.all_routes:
        return []

    def make() -> tuple[Runner, list[str]]:
        from netc.backends.tf2onnx_route import keras_to_onnx
        t2o = keras_to_onnx(ctx.artifact("keras")).SerializeToString()
        return ort_runner(t2o, "ORT_ENABLE_ALL", ctx.provider, nchw=False)
    return [Route("tf2onnx (ort)", make)]
