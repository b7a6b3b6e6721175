"""Weights-only Keras files: ``.weights.h5`` (Keras 3: ``layers/<class>_<i>/vars/<j>``) and legacy Keras 2
HDF5 weights (``layer_names`` / ``weight_names``). Their layers, in file order, become weighted nodes without
expressions (``sig = ("weights", kind, shapes)``), for pairing by class and shapes (pair_order.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.keras_graph import Dag
from netc.weights.source import KerasSource, reason as _reason
from netc.weights.kinds import FILE_NAMES, KINDS, TYPE_HINTS, recognise


def _h5py():
    """h5py comes with the TensorFlow extra (Keras needs it); without it a NetcError says what to install."""
    try:
        import h5py
    except ImportError:
        from netc.optional import require_tensorflow
        require_tensorflow("reading a Keras .h5 file")
        raise
    return h5py


def h5_has_model(path: str) -> bool:
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except OSError as err:
        raise NetcError(f"cannot read `{path}` as HDF5: {_reason(err)} (is it truncated or damaged?)") from None


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
            if not tname and kind in KINDS and cls.startswith("_"):
                tname = KINDS[kind].keras_classes[0]   # a block's sublayer, named by attribute (`_conv1`)
            elif not tname:   # a layer class netc does not read (never printed as `()`)
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
                    read=(lambda part, roles: lambda role: part[roles.index(role)][2]())(part, roles),
                    position=_position(layer.name, suffix) if by_class else None)
    return dag


def _position(name: str, suffix: str) -> tuple[str, int, str]:
    """``bottleneck_block_3/_conv1`` -> ("bottleneck_block", 3, "_conv1"): the top-level layer's class name, its
    number among that class's layers in `model.layers`, and the sublayer's path below it (``/depthwise`` for a
    separable conv's half)."""
    top, _, rest = name.partition("/")
    (stem, index), = _natural(top)
    return stem, index, rest + (f"/{suffix}" if suffix else "")


def _roles(kind: str, n: int) -> tuple[str, ...]:
    roles = KINDS[kind].roles if kind in KINDS else ()
    if kind == "bn" and n == 3:   # BatchNormalization(scale=False), as Inception's conv2d_bn: no gamma
        roles = roles[1:]
    elif kind == "bn" and n != len(roles):
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


def read_weights_h5(path: str) -> KerasSource:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NetcError(f"cannot read `{path}` as HDF5: {_reason(err)} (is it truncated or damaged?)") from None

    def read_ds(ds: Any) -> Callable[[], np.ndarray]:
        return lambda: np.asarray(ds[()])

    if "layer_names" in f.attrs:            # Keras 2: <layer>/<sublayer path>/<var>:0
        src = KerasSource(path, "legacy Keras 2 HDF5 weights file", legacy_dag(f, "legacy Keras 2 HDF5 weights file"),
                          topology=False)
        src.notes.append(f"`{path}` holds weights without a graph: its layers were paired by class and shapes, "
                         f"look-alikes by the creation order their names record")
        return src
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
    src.notes.append(f"`{path}` holds weights without a graph: its layers were paired by their shapes and their "
                     f"positions in `model.layers` (numbered per class; a block's sublayers by attribute), "
                     f"reproduced from the spec's graph; give the model (`.keras`, a SavedModel) to pair by "
                     f"structure")
    return src


def _strip_layers(name: str) -> str:
    parts = [p for p in name.split("/") if p != "layers"]
    return "/".join(parts)


def legacy_dag(g: Any, kind: str) -> Dag:
    """A Keras 2 HDF5 weights group (a weights file, or a model file's ``model_weights``): each layer's
    ``weight_names`` split by their layer path (``bottleneck_block/conv2d_1/kernel:0``: a block's sublayers are
    layers of their own, and its trainable variables come before its statistics)."""
    from netc.weights.named_layers import NamedVar, named_dag
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("layer_names", [])]
    variables = []
    for lname in names:
        if lname not in g:
            continue
        grp = g[lname]
        for w in grp.attrs.get("weight_names", []):
            w = w.decode() if isinstance(w, bytes) else w
            path = re.sub(r":\d+$", "", w)
            layer, _, leaf = path.rpartition("/")
            ds = grp[w]
            variables.append(NamedVar(layer or lname, leaf, w, tuple(ds.shape), (lambda ds: lambda: np.asarray(ds[()]))(ds)))
    return named_dag(variables, kind)
