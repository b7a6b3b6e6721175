"""IR -> Keras 3 Functional model built only from stock ``keras.layers``.

The model needs no custom objects: ``keras.models.load_model`` and ``tf.saved_model.load``
work where netc is not installed. One layer per IR node; graph outputs whose name differs
from the producing layer get a named ``Identity`` layer. TensorFlow and Keras are imported
lazily, so importing this module stays cheap.
"""
from __future__ import annotations

import contextlib
import os
import re
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from netc.diagnostics import NetcError
from netc.ir.naming import UniqueNames
from netc.ir.graph import Graph, Node, Prim
from netc.ir.prims import DEFS
from netc.ir.weights import WeightValues

if TYPE_CHECKING:  # pragma: no cover
    import keras

LayerFn = Callable[[Any, Node, str], Any]  # (keras module, node, layer name) -> layer

# ------------------------------------------------------------------ layer makers
def is_depthwise(node: Node) -> bool:
    """A CONV with one group per channel and as many outputs as inputs."""
    groups = node.attrs.get("groups", 1)
    cin, cout = node.inputs[0].channels, node.out.channels
    return groups > 1 and groups == cin == cout


def _conv(keras: Any, node: Node, name: str) -> Any:
    a = node.attrs
    common = dict(kernel_size=tuple(a["kernel_size"]), strides=tuple(a["strides"]),
                  padding=a["padding"], use_bias="bias" in node.weights, name=name)
    if is_depthwise(node):
        return keras.layers.DepthwiseConv2D(depth_multiplier=1, **common)
    return keras.layers.Conv2D(node.out.channels, groups=a.get("groups", 1), **common)


def _batchnorm(keras: Any, node: Node, name: str) -> Any:
    """The channel-wise affine: BatchNormalization (with or without scale and centre), Normalization (mean,
    variance, count), or a layer scale as a 1x1 DepthwiseConv2D (its kernel gamma, its bias beta: Keras has no
    stock per-channel scale layer)."""
    w = node.weights
    if "moving_mean" not in w:
        if "gamma" not in w or node.inputs[0].rank != 4:
            raise NetcError("the Keras backend expresses a channel scale without statistics only as gamma "
                            "(+ beta) on an image tensor", node.origin.span)
        return keras.layers.DepthwiseConv2D(1, use_bias="beta" in w, name=name)
    if node.attrs.get("epsilon_rule", "add") == "max":
        return keras.layers.Normalization(axis=-1, name=name)
    return keras.layers.BatchNormalization(epsilon=float(node.attrs["epsilon"]),
                                           momentum=float(node.attrs["momentum"]), center="beta" in w,
                                           scale="gamma" in w, name=name)


def _layernorm(keras: Any, node: Node, name: str) -> Any:
    return keras.layers.LayerNormalization(epsilon=float(node.attrs["epsilon"]), center="beta" in node.weights,
                                           scale="gamma" in node.weights, name=name)


def _sepconv(keras: Any, node: Node, name: str) -> Any:
    a = node.attrs
    return keras.layers.SeparableConv2D(node.out.channels, tuple(a["kernel_size"]), strides=tuple(a["strides"]),
                                        padding=a["padding"], use_bias="bias" in node.weights, name=name)


def _crop(keras: Any, node: Node, name: str) -> Any:
    t, l, b, r = node.attrs["crops"]
    return keras.layers.Cropping2D(((t, b), (l, r)), name=name)


def _relu(keras: Any, node: Node, name: str) -> Any:
    mv = node.attrs.get("max_value")
    return keras.layers.ReLU(max_value=None if mv is None else float(mv), name=name)


def _activation(kind: str) -> LayerFn:
    def make(keras: Any, node: Node, name: str) -> Any:
        return keras.layers.Activation(kind, name=name)
    return make


def _prelu(keras: Any, node: Node, name: str) -> Any:
    axes = node.attrs.get("shared_axes")
    if node.inputs[0].rank == 2:
        axes = None
    return keras.layers.PReLU(shared_axes=None if axes is None else list(axes), name=name)


def _affine(keras: Any, node: Node, name: str) -> Any:
    def value(v):
        return list(v) if isinstance(v, tuple) else float(v)
    return keras.layers.Rescaling(value(node.attrs["scale"]), value(node.attrs["offset"]), name=name)


def _resize(keras: Any, node: Node, name: str) -> Any:
    # UpSampling2D(bilinear) equals tf.image.resize(bilinear, half-pixel centres), and keeps
    # dynamic spatial sizes, which Resizing (a fixed target size) does not.
    mode = node.attrs.get("mode", "bilinear")
    if mode not in ("bilinear", "nearest"):
        raise NetcError(f"the Keras backend cannot express resize mode {mode!r}", node.origin.span)
    return keras.layers.UpSampling2D(size=tuple(node.attrs["scale"]), interpolation=mode, name=name)


def _pool(cls_name: str) -> LayerFn:
    def make(keras: Any, node: Node, name: str) -> Any:
        a = node.attrs
        cls = getattr(keras.layers, cls_name)
        return cls(pool_size=tuple(a["kernel_size"]), strides=tuple(a["strides"]), padding=a["padding"],
                   name=name)
    return make


def _global_avgpool(keras: Any, node: Node, name: str) -> Any:
    return keras.layers.GlobalAveragePooling2D(keepdims=bool(node.attrs.get("keepdims", True)), name=name)


def _pad(keras: Any, node: Node, name: str) -> Any:
    t, l, b, r = node.attrs["pads"]
    return keras.layers.ZeroPadding2D(padding=((t, b), (l, r)), name=name)


def _dense(keras: Any, node: Node, name: str) -> Any:
    return keras.layers.Dense(node.out.channels, use_bias="bias" in node.weights, name=name)


def _dropout(keras: Any, node: Node, name: str) -> Any:
    """Dropout; per sample (stochastic depth, drop-connect) it drops whole samples, noise (N, 1, 1, 1)."""
    noise = None
    if node.attrs.get("noise_shape") == "sample":
        noise = (None,) + (1,) * (node.inputs[0].rank - 1)
    return keras.layers.Dropout(float(node.attrs["rate"]), noise_shape=noise, name=name)


def _simple(cls_name: str, **kwargs: Any) -> LayerFn:
    def make(keras: Any, node: Node, name: str) -> Any:
        return getattr(keras.layers, cls_name)(name=name, **kwargs)
    return make


LAYERS: dict[Prim, LayerFn] = {
    Prim.CONV: _conv,
    Prim.BATCHNORM: _batchnorm,
    Prim.RELU: _relu,
    Prim.HARDSWISH: _activation("hard_swish"),
    Prim.SWISH: _activation("swish"),
    Prim.SIGMOID: _activation("sigmoid"),
    Prim.PRELU: _prelu,
    Prim.AFFINE: _affine,
    Prim.ADD: _simple("Add"),
    Prim.MUL: _simple("Multiply"),
    Prim.CONCAT: _simple("Concatenate", axis=-1),
    Prim.RESIZE: _resize,
    Prim.AVGPOOL: _pool("AveragePooling2D"),
    Prim.MAXPOOL: _pool("MaxPooling2D"),
    Prim.GLOBAL_AVGPOOL: _global_avgpool,
    Prim.PAD: _pad,
    Prim.FLATTEN: _simple("Flatten"),
    Prim.DENSE: _dense,
    Prim.SOFTMAX: _simple("Softmax"),
    Prim.DROPOUT: _dropout,
    Prim.LAYERNORM: _layernorm,
    Prim.GELU: _activation("gelu"),
    Prim.SEPCONV: _sepconv,
    Prim.CROP: _crop,
}


# ------------------------------------------------------------------------ names
class _Names(UniqueNames):
    """Keras-legal, unique, readable layer names: ``backbone/c3/conv`` -> ``backbone.c3.conv``."""

    @staticmethod
    def clean(name: str) -> str:
        s = re.sub(r"[^A-Za-z0-9_.\-]", "_", name.replace("/", "."))
        return s if s and s[0].isalnum() else f"x{s}"

    def take(self, name: str) -> str:
        return self.unique(self.clean(name))


# ------------------------------------------------------------------------ build
def _make_layer(keras: Any, node: Node, name: str) -> Any:
    fn = LAYERS.get(node.prim)
    if fn is None:
        raise NetcError(f"the Keras backend cannot express {node.prim}", node.origin.span)
    return fn(keras, node, name)


def _call(node: Node, layer: Any, tensors: dict[int, Any]) -> Any:
    args = [tensors[v.id] for v in node.inputs]
    return layer(args) if DEFS[node.prim].multi_input else layer(args[0])


def _name_outputs(keras: Any, graph: Graph, tensors: dict[int, Any], layer_of: dict[int, str],
                  names: _Names) -> list[Any]:
    """Graph outputs in order; an Identity layer carries an output's name when needed."""
    outs = []
    for out_name, value in graph.outputs:
        if names.clean(out_name) == layer_of[value.id]:
            outs.append(tensors[value.id])
        else:
            outs.append(keras.layers.Identity(name=names.take(out_name))(tensors[value.id]))
    return outs


def _weight_list(node: Node, layer: Any, weights: WeightValues) -> list[np.ndarray]:
    """The node's weight values in the layer's order, reshaped to the layer's variable shapes.

    Weights come from the user (a checkpoint, an .npz, a dict passed to the API): a missing or misshapen
    value is a NetcError located at the block that owns it."""
    wanted = [k for k in DEFS[node.prim].order if k in node.weights]
    variables = layer.weights
    span = node.origin.span
    if len(wanted) != len(variables):
        raise NetcError(f"the Keras layer `{layer.name}` has {len(variables)} weights but the block's "
                        f"`{node.name}` has {len(wanted)}", span)
    values = []
    for key, var in zip(wanted, variables):
        w = node.weights[key]
        if w.name not in weights:
            raise NetcError(f"no value for weight `{w.name}`", span)
        try:
            arr = np.asarray(weights[w.name], dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise NetcError(f"weight `{w.name}` is not an array of numbers ({err})", span) from None
        if arr.shape != w.shape:
            raise NetcError(f"weight `{w.name}` has shape {arr.shape}, the block needs {w.shape}", span)
        values.append(arr.reshape(tuple(var.shape)))  # depthwise (kh,kw,1,C) -> (kh,kw,C,1): same order
    return values


def to_keras(graph: Graph, weights: WeightValues, dtype: str = "float32") -> "keras.Model":
    """Build a Functional model of stock Keras layers computing ``graph`` with ``weights``; ``dtype="float64"``
    builds its float64 twin (the exact reference `netc check` measures float32 noise against). The dtype is
    given to each layer, never set as Keras' process-wide policy, so other threads' models are unaffected."""
    import keras

    return _to_keras(keras if dtype == "float32" else _Typed(keras, dtype), graph, weights, dtype)


class _Typed:
    """``keras`` whose ``layers.X(...)`` constructors all receive ``dtype=``."""

    def __init__(self, keras: Any, dtype: str):
        self._keras, self.layers = keras, _TypedLayers(keras.layers, dtype)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._keras, name)


#: the constructor arguments of Keras' randomly initialised weights (glorot_uniform by default)
_RANDOM_INITIALIZERS = ("kernel_initializer", "depthwise_initializer")


class _TypedLayers:
    """``keras.layers`` for the float64 twin: each layer gets ``dtype=``, and its kernels start at zero instead of
    random draws that set_weights overwrites at once (drawing them was 15% of SpineNet-190's Keras build)."""

    def __init__(self, layers: Any, dtype: str):
        self._layers, self._dtype = layers, dtype
        self._made: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self._made:   # one signature lookup per layer class, not per layer
            import functools
            import inspect
            cls = getattr(self._layers, name)
            params = inspect.signature(cls).parameters
            zeros = {k: "zeros" for k in _RANDOM_INITIALIZERS if k in params}
            self._made[name] = functools.partial(cls, dtype=self._dtype, **zeros)
        return self._made[name]


def _to_keras(keras: Any, graph: Graph, weights: WeightValues, dtype: str) -> "keras.Model":
    names = _Names()
    tensors: dict[int, Any] = {}
    layer_of: dict[int, str] = {}
    weighted: list[tuple[Node, Any]] = []
    for node in graph.nodes:
        name = names.take(node.name)
        if node.prim is Prim.INPUT:
            tensors[node.out.id] = keras.Input(shape=tuple(node.out.shape[1:]), name=name, dtype=dtype)
        else:
            layer = _make_layer(keras, node, name)
            tensors[node.out.id] = _call(node, layer, tensors)
            if node.weights:
                weighted.append((node, layer))
        layer_of[node.out.id] = name
    inputs = [tensors[v.id] for v in graph.inputs]
    outputs = _name_outputs(keras, graph, tensors, layer_of, names)
    model = keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs,
                        outputs=outputs[0] if len(outputs) == 1 else outputs, name=names.clean(graph.name))
    for node, layer in weighted:
        layer.set_weights(_weight_list(node, layer, weights))
        if hasattr(layer, "finalize_state"):   # Normalization derives its mean and variance from the weights
            layer.finalize_state()
    return model


# ----------------------------------------------------------------------- saving
@contextlib.contextmanager
def _quiet_numpy2() -> Iterator[None]:
    """Silence Keras 3.15's own numpy-2 warning (``np.array(variable)``) while it serialises."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


def save_keras(model: "keras.Model", path: str | os.PathLike) -> None:
    """Save the native ``.keras`` file atomically (netc/atomic.py)."""
    from netc.atomic import atomic_file
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise NetcError(f"a Keras model file must end in `.keras`: `{path}`")
    with atomic_file(path, suffix=".keras") as (tmp, fh):
        fh.close()
        with _quiet_numpy2():
            model.save(tmp)


def export_savedmodel(model: "keras.Model", directory: str | os.PathLike) -> None:
    """Export a TF SavedModel (endpoint ``serve``) into ``directory``, replacing it atomically (netc/atomic.py)."""
    from netc.atomic import atomic_dir
    with atomic_dir(directory) as tmp, _quiet_numpy2():
        model.export(tmp, verbose=False)
