"""Keras-side readers: a saved Keras model reduced to a weighted-op DAG, or a weights-only file's layers.

- ``.keras`` and legacy full-model ``.h5``: ``keras.models.load_model``, then the functional graph
  (nested models and Sequential included) becomes a :class:`~netc.weights.keras_graph.Dag`.
- ``.weights.h5`` (``model.save_weights``) and TF SavedModel directories hold variables without a
  usable graph: their layers are listed in the order they were written (a topological order of the
  original model), for pairing by order and shapes (see ``keras_match.pair_by_order``).

TensorFlow and Keras are imported only here, when such a file is read.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.keras_graph import Dag, Expr, combine, conv_sig
from netc.weights.kinds import FILE_NAMES, KINDS, TYPE_HINTS, recognise

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass
class KerasSource:
    """A Keras weights source: its DAG (``topology`` True) or its layers in file order."""

    path: str
    kind: str                      # "Keras model", "legacy Keras .h5 model", ".weights.h5 file", "SavedModel"
    dag: Dag
    topology: bool
    model: Any = None              # the loaded keras.Model, when there is one (netc check runs it)
    run: Callable | None = None    # a SavedModel's signature: feeds (spec input order) -> outputs
    notes: list[str] = field(default_factory=list)


def is_keras_source(path: str) -> bool:
    """A ``.keras`` / ``.h5`` file or a SavedModel directory (``saved_model.pb`` inside)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return os.path.isfile(os.path.join(p, "saved_model.pb"))
    return p.lower().endswith(KERAS_SUFFIXES)


def open_source(path: str) -> KerasSource:
    """Read the Keras weights source at ``path`` (a NetcError when it cannot be read)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        if not os.path.isfile(os.path.join(p, "saved_model.pb")):
            raise NetcError(f"`{p}` is a directory without `saved_model.pb`: not a SavedModel")
        return _savedmodel(p)
    if not os.path.isfile(p):
        raise NetcError(f"no Keras model at `{p}`")
    low = p.lower()
    if low.endswith(".weights.h5"):
        return _weights_h5(p)
    if low.endswith((".h5", ".hdf5")) and not _h5_has_model(p):
        return _weights_h5(p)
    return _keras_model(p)


# ------------------------------------------------------------------ full models
def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError:
        raise NetcError("reading a Keras model needs Keras and TensorFlow (`pip install netc[tf]`); or "
                        "convert it once with `netc weights export SPEC --weights MODEL -o weights.npz` "
                        "where they are installed") from None
    return keras


def _h5py():
    """h5py comes with the TensorFlow extra (Keras needs it); without it a NetcError says what to install."""
    try:
        import h5py
    except ImportError:
        from netc.optional import require_tensorflow
        require_tensorflow("reading a Keras .h5 file")
        raise
    return h5py


def _h5_has_model(path: str) -> bool:
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except OSError as err:
        raise NetcError(f"cannot read `{path}` as HDF5: {_reason(err)} (is it truncated or damaged?)") from None


def _keras_model(path: str) -> KerasSource:
    keras = _keras()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a file it cannot read
        raise NetcError(f"cannot load Keras model `{path}`: {_reason(err)}",
                        notes=["netc needs the model's own file (`model.save(...)`); a model with custom "
                               "layers must be loadable without them, or export its weights with "
                               "`model.save_weights(...)` and use that file"]) from None
    kind = "Keras model" if path.lower().endswith(".keras") else "legacy Keras .h5 model"
    return KerasSource(path, kind, keras_dag(model), topology=True, model=model)


def keras_dag(model: Any) -> Dag:
    """The weighted ops of a functional (or Sequential) Keras model with their input expressions."""
    keras = _keras()
    fn = _functional(keras, model)
    inputs = list(_flat(fn.inputs))
    dag = Dag(n_inputs=len(inputs), input_channels=[_channels(t) for t in inputs])
    calls: dict[int, int] = {}
    dag.outputs = _walk(keras, fn, [("in", i) for i in range(len(inputs))], dag, calls)
    dag.output_names = [getattr(t, "name", f"output_{i}") for i, t in enumerate(_flat(fn.outputs))]
    return dag


def _functional(keras: Any, model: Any) -> Any:
    if isinstance(model, keras.Sequential):
        if getattr(model, "_functional", None) is None:
            raise NetcError(f"Sequential model `{model.name}` was never built: netc needs its input shape")
        return model._functional
    if not hasattr(model, "_nodes_by_depth"):
        raise NetcError(f"model `{model.name}` ({type(model).__name__}) is a subclassed Keras model: it has no "
                        f"graph netc can read; save its weights (`model.save_weights`) and use that file")
    return model


def _flat(x: Any) -> list:
    import keras
    return list(keras.tree.flatten(x))


def _channels(t: Any) -> int | None:
    shape = getattr(t, "shape", None)
    return None if not shape else shape[-1]


def _walk(keras: Any, fn: Any, in_exprs: list[Expr], dag: Dag, calls: dict[int, int]) -> list[Expr]:
    local: dict[int, Expr] = {id(t): e for t, e in zip(_flat(fn.inputs), in_exprs)}
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                continue
            ins = [local.get(id(t)) for t in node.input_tensors]
            if isinstance(op, keras.Model):
                outs = _walk(keras, _functional(keras, op), ins, dag, calls)
            else:
                outs = [_layer(keras, op, ins, dag, calls)] * len(node.output_tensors)
            for t, e in zip(node.output_tensors, outs):
                local[id(t)] = e
    return [local.get(id(t)) for t in _flat(fn.outputs)]


_MERGE = {"Add": "+", "Multiply": "*", "Concatenate": "cat"}


def _layer(keras: Any, op: Any, ins: list[Expr], dag: Dag, calls: dict[int, int]) -> Expr:
    """The expression of one layer's output (adding its weighted nodes to ``dag``)."""
    L = keras.layers
    tname = type(op).__name__
    if not getattr(op, "weights", None):   # a layer without weights, or a keras.ops operation (`x + 3.0`)
        if tname == "Concatenate" and getattr(op, "axis", -1) not in (-1, 3):
            return combine(f"op:Concatenate(axis={op.axis})", ins)
        return combine(_MERGE.get(tname, f"op:{tname}"), ins)
    if id(op) in calls:
        raise NetcError(f"source layer `{op.name}` ({tname}) is called more than once (shared weights): "
                        f"a spec has one set of weights per block, so netc cannot pair it")
    calls[id(op)] = 1
    expr = combine("cat", ins)
    if isinstance(op, L.SeparableConv2D):
        _channels_last(op)
        dk = tuple(op.depthwise_kernel.shape)
        dw = dag.add(kind="conv", sig=conv_sig(dk[0], dk[1], 1, dk[2] * dk[3], dk[2], op.strides,
                                              op.dilation_rate, False),
                     expr=expr, name=f"{op.name}/depthwise", type=tname, soft={"padding": op.padding},
                     variables={"kernel": _path(op.depthwise_kernel)}, read=_reader({"kernel": op.depthwise_kernel}))
        pk = tuple(op.pointwise_kernel.shape)
        vs = {"kernel": op.pointwise_kernel, **({"bias": op.bias} if op.use_bias else {})}
        pw = dag.add(kind="conv", sig=conv_sig(1, 1, pk[2], pk[3], 1, (1, 1), (1, 1), op.use_bias),
                     expr=("w", dw.key), name=f"{op.name}/pointwise", type=tname, soft={"padding": "same"},
                     variables={r: _path(v) for r, v in vs.items()}, read=_reader(vs))
        return ("w", pw.key)
    if isinstance(op, L.DepthwiseConv2D):
        _channels_last(op)
        k = tuple(op.kernel.shape)   # (kh, kw, C, multiplier)
        sig = conv_sig(k[0], k[1], 1, k[2] * k[3], k[2], op.strides, op.dilation_rate, op.use_bias)
        vs = {"kernel": op.kernel, **({"bias": op.bias} if op.use_bias else {})}
        soft = {"padding": op.padding}
    elif isinstance(op, L.Conv2D) and type(op).__name__ in ("Conv2D", "Convolution2D"):
        _channels_last(op)
        k = tuple(op.kernel.shape)
        sig = conv_sig(k[0], k[1], k[2], k[3], op.groups, op.strides, op.dilation_rate, op.use_bias)
        vs = {"kernel": op.kernel, **({"bias": op.bias} if op.use_bias else {})}
        soft = {"padding": "same" if k[:2] == (1, 1) else op.padding}
    elif isinstance(op, L.BatchNormalization):
        if op.axis not in (-1, 3, [-1], [3]):
            raise _unsupported(op, f"it normalises axis {op.axis}, netc only the channel axis (-1)")
        c = int(op.moving_mean.shape[0])
        vs = {"gamma": op.gamma, "beta": op.beta, "moving_mean": op.moving_mean,
              "moving_variance": op.moving_variance}
        sig, soft = ("bn", c), {"epsilon": float(op.epsilon)}
        missing = [r for r, v in vs.items() if v is None]
        if missing:   # scale=False / center=False: the identity value
            vs = {r: v for r, v in vs.items() if v is not None}
            reader = _reader(vs, defaults={"gamma": np.ones(c, np.float32), "beta": np.zeros(c, np.float32)})
            n = dag.add(kind="bn", sig=sig, expr=expr, name=op.name, type=tname, soft=soft,
                        variables={r: _path(v) for r, v in vs.items()}
                        | {r: "(none: 1)" if r == "gamma" else "(none: 0)" for r in missing}, read=reader)
            return ("w", n.key)
    elif isinstance(op, L.LayerNormalization):
        if op.axis not in (-1, 3, [-1], [3]):
            raise _unsupported(op, f"it normalises axis {op.axis}, netc only the channel axis (-1)")
        vs = {r: v for r, v in (("gamma", op.gamma), ("beta", op.beta)) if v is not None}
        c = int(next(iter(vs.values())).shape[0]) if vs else 0
        sig, soft = ("ln", c), {"epsilon": float(op.epsilon)}
    elif isinstance(op, L.Normalization):
        mean = getattr(op, "adapt_mean", None)
        if mean is None:
            raise _unsupported(op, "its weights are not the adapted mean, variance and count")
        vs = {"moving_mean": mean, "moving_variance": op.adapt_variance, "count": op.count}
        sig, soft = ("norm", int(np.prod(mean.shape))), {}
    elif tname == "LayerScale" and getattr(op, "gamma", None) is not None:   # keras.applications.convnext
        vs, sig, soft = {"gamma": op.gamma}, ("scale", int(op.gamma.shape[0])), {}
    elif isinstance(op, L.PReLU):
        vs, sig, soft = {"alpha": op.alpha}, ("prelu", tuple(int(d) for d in op.alpha.shape)), {}
    elif isinstance(op, L.Dense):
        k = tuple(op.kernel.shape)
        vs = {"kernel": op.kernel, **({"bias": op.bias} if op.use_bias else {})}
        rank = len(op.input.shape) if _single_input(op) else 2
        if rank == 4:   # a Dense on an NHWC tensor is a 1x1 convolution
            sig, soft = conv_sig(1, 1, k[0], k[1], 1, (1, 1), (1, 1), op.use_bias), {"padding": "same"}
            n = dag.add(kind="conv", sig=sig, expr=expr, name=op.name, type=tname, soft=soft,
                        variables={r: _path(v) for r, v in vs.items()}, read=_reader(vs))
            return ("w", n.key)
        sig, soft = ("dense", k[0], k[1], bool(op.use_bias)), {}
    else:
        raise _unsupported(op, "netc pairs Conv2D, DepthwiseConv2D, SeparableConv2D, BatchNormalization, "
                               "LayerNormalization, Normalization, LayerScale, PReLU and Dense layers")
    kind = sig[0]
    n = dag.add(kind=kind, sig=sig, expr=expr, name=op.name, type=tname, soft=soft,
                variables={r: _path(v) for r, v in vs.items()}, read=_reader(vs))
    return ("w", n.key)


def _single_input(op: Any) -> bool:
    try:
        return op.input is not None and not isinstance(op.input, (list, tuple))
    except Exception:  # noqa: BLE001 - Keras raises when a layer has several inbound nodes
        return False


def _channels_last(op: Any) -> None:
    if getattr(op, "data_format", "channels_last") != "channels_last":
        raise _unsupported(op, f"it is {op.data_format}; netc's layers are channels_last")


def _unsupported(op: Any, why: str) -> NetcError:
    return NetcError(f"source layer `{op.name}` ({type(op).__name__}) holds weights netc cannot pair: {why}")


def _path(v: Any) -> str:
    return getattr(v, "path", None) or v.name


def _reader(vs: dict[str, Any], defaults: dict[str, np.ndarray] | None = None) -> Callable[[str], np.ndarray]:
    def read(role: str) -> np.ndarray:
        if role in vs:
            return np.asarray(vs[role].numpy() if hasattr(vs[role], "numpy") else vs[role])
        return (defaults or {})[role]
    return read


# ------------------------------------------------------------------ weights only
@dataclass
class _Layer:
    name: str
    arrays: list[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]   # (variable path, shape, read)


def _ordered_dag(layers: list[_Layer], by_class: bool = False) -> Dag:
    """Layers in file order as weighted nodes without expressions (``sig = ("weights", kind, shapes)``).
    ``by_class``: the names are Keras 3 class names (``depthwise_conv2d_3``), and the order holds per class."""
    dag = Dag(order_by="class" if by_class else "kind")
    for layer in layers:
        shapes = [s for _, s, _ in layer.arrays]
        kind, tname = _guess_kind(layer.name, shapes)
        if by_class:
            cls = _natural(layer.name)[-1][0]
            tname = _CLASS_NAMES.get(cls, "")
            if not tname:   # a layer class netc does not read (never printed as `()`)
                kind, tname = "other", f"class `{cls}`"
        arrays = layer.arrays
        if tname == "SeparableConv2D" and len(arrays) >= 2:
            parts = [("depthwise", arrays[:1]), ("pointwise", arrays[1:])]
        else:
            parts = [("", arrays)]
        for suffix, part in parts:
            roles = _roles(kind, len(part))
            dag.add(kind=kind, sig=("weights", kind, tuple(s for _, s, _ in part)), expr=None,
                    name=f"{layer.name}/{suffix}" if suffix else layer.name, type=tname,
                    variables={r: p for r, (p, _, _) in zip(roles, part)},
                    read=(lambda part, roles: lambda role: part[roles.index(role)][2]())(part, roles))
    return dag


def _roles(kind: str, n: int) -> tuple[str, ...]:
    roles = KINDS[kind].roles if kind in KINDS else ()
    if kind == "bn" and n != len(roles):
        roles = ()
    return roles[:n] or tuple(f"var{i}" for i in range(n))


def _guess_kind(name: str, shapes: list[tuple[int, ...]]) -> tuple[str, str]:
    """A weights-only layer's kind from its shapes, and its Keras class from its name (or the kind's default)."""
    base = name.rsplit("/", 1)[-1].lower()
    hinted = next((t for hint, t in TYPE_HINTS if hint in base), "")
    kind = recognise(shapes)
    if kind is None:
        return "other", hinted or "unrecognised layer"
    return kind.name, hinted if hinted in kind.keras_classes else kind.keras_classes[0]


_CLASS_NAMES = FILE_NAMES


def _natural(path: str) -> tuple:
    """``conv2d_10`` after ``conv2d_9``: Keras 3 numbers each class's layers in the model's layer order."""
    key = []
    for part in path.split("/"):
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", part)
        key.append((m.group(1), int(m.group(2) or 0)))
    return tuple(key)


def _weights_h5(path: str) -> KerasSource:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NetcError(f"cannot read `{path}` as HDF5: {_reason(err)} (is it truncated or damaged?)") from None

    def read_ds(ds: Any) -> Callable[[], np.ndarray]:
        return lambda: np.asarray(ds[()])

    if "layer_names" in f.attrs:            # Keras 2: <layer>/<layer>/<var>:0, in the model's layer order
        dag = _ordered_dag([lay for _, lay in _keras2_h5(f, read_ds)])
    else:                                   # Keras 3: layers/<class name>_<i>/vars/<j>, numbered per class
        layers: list[_Layer] = []

        def visit(group: Any, prefix: str) -> None:
            for key in group:
                item = group[key]
                if not isinstance(item, h5py.Group):
                    continue
                if key == "vars":
                    names = sorted((k for k in item if isinstance(item[k], h5py.Dataset)),
                                   key=lambda k: int(k) if k.isdigit() else 1 << 30)
                    if names and prefix:
                        name = _strip_layers(prefix)
                        layers.append(_Layer(name, [(f"{name}/{k}", tuple(item[k].shape), read_ds(item[k]))
                                                    for k in names]))
                else:
                    visit(item, f"{prefix}/{key}" if prefix else key)
        visit(f, "")
        layers.sort(key=lambda lay: _natural(lay.name))
        dag = _ordered_dag(layers, by_class=True)
    src = KerasSource(path, ".weights.h5 file", dag, topology=False)
    src.notes.append(f"`{path}` holds weights without a graph: its layers were paired by the order they were "
                     f"saved in and their shapes; give the `.keras` model to pair by structure")
    return src


def _strip_layers(name: str) -> str:
    parts = [p for p in name.split("/") if p != "layers"]
    return "/".join(parts)


def _keras2_h5(f: Any, read_ds: Callable) -> list[tuple[int, _Layer]]:
    names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("layer_names", [])]
    out = []
    for i, lname in enumerate(names):
        if lname not in f:
            continue
        g = f[lname]
        wnames = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
        if wnames:
            out.append((i, _Layer(lname, [(w, tuple(g[w].shape), read_ds(g[w])) for w in wnames])))
    return out


def _savedmodel(path: str) -> KerasSource:
    """A SavedModel: by structure through its serving signature's graph (savedmodel_graph.py) where netc
    reads every weighted op of it; otherwise its variables grouped by layer (``conv2d_3/kernel``), in the
    model's variable order, for pairing by class and shapes. Either way ``run`` calls the signature."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise NetcError("reading a SavedModel needs TensorFlow (`pip install netc[tf]`)") from None
    try:
        loaded = tf.saved_model.load(path)
    except Exception as err:  # noqa: BLE001
        raise NetcError(f"cannot load SavedModel `{path}`: {_reason(err)}") from None
    from netc.weights.savedmodel_graph import serving_dag
    found = serving_dag(loaded, tf)
    if found is not None:
        dag, fn = found
        src = KerasSource(path, "SavedModel", dag, topology=True)
        src.run = _signature_runner(fn, dag)
        return src
    variables = list(getattr(loaded, "variables", []))
    groups: dict[str, _Layer] = {}
    for v in variables:
        if not v.dtype.is_floating:
            continue
        vname = re.sub(r":\d+$", "", v.name)
        layer = vname.rsplit("/", 1)[0] if "/" in vname else vname
        groups.setdefault(layer, _Layer(layer, [])).arrays.append(
            (vname, tuple(int(d) for d in v.shape), (lambda v: lambda: v.numpy())(v)))
    if not groups:
        raise NetcError(f"SavedModel `{path}` holds no variables netc can read (is it a Keras export?)")
    src = KerasSource(path, "SavedModel", _ordered_dag(list(groups.values())), topology=False)
    src.notes.append(f"SavedModel `{path}`: netc cannot read every layer from its signature's graph; its layers "
                     f"were paired by class and shapes")
    sigs = getattr(loaded, "signatures", {})
    if sigs:
        src.run = _signature_runner(sigs["serving_default"] if "serving_default" in sigs
                                    else next(iter(sigs.values())), None)
    return src


def _signature_runner(fn: Any, dag: Dag | None) -> Callable:
    """Feeds in the spec's input order -> the signature's outputs (in the order the pairing found, or by name)."""
    def run(xs: list[np.ndarray]) -> list[np.ndarray]:
        import tensorflow as tf
        _, kw = fn.structured_input_signature
        names = list(kw)
        outs = fn(**{k: tf.constant(x, dtype=kw[k].dtype) for k, x in zip(names, xs)})
        if dag is not None and all(n in outs for n in dag.output_names):
            return [np.asarray(outs[n]) for n in dag.output_names]
        return [np.asarray(outs[k]) for k in sorted(outs)]
    return run


def _reason(err: Exception) -> str:
    msg = str(err) or type(err).__name__
    return msg.strip().splitlines()[0][:300]
