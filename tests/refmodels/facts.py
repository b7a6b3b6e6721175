"""Layer facts read from built Keras models, for docs/reference-models.md and the spec authors.

Everything here is read from the model objects and saved files (layer configs, variable shapes, the
``.weights.h5`` group names), never restated by hand, so the tables cannot drift from Keras.
"""
from __future__ import annotations

import collections
import pathlib

_ACT = {"linear": None}


def _act_name(fn) -> str | None:
    name = getattr(fn, "__name__", str(fn))
    return _ACT.get(name, name)


def kind_of(op) -> str:
    """The Keras layer class, or ``ops.<Class>`` for a keras.ops operation recorded in the graph."""
    import keras
    return type(op).__name__ if isinstance(op, keras.layers.Layer) else f"ops.{type(op).__name__}"


def describe(layer) -> str:
    """A compact description of one layer's configuration: what a spec must reproduce."""
    kind = kind_of(layer)
    c = layer.get_config() if not kind.startswith("ops.") else {}
    parts: list[str] = []
    if kind in ("Conv2D", "DepthwiseConv2D"):
        k, s = c["kernel_size"], c["strides"]
        parts.append(f"k{k[0]}x{k[1]} s{s[0]} {c['padding']}")
        if kind == "Conv2D":
            parts.append(f"c{c['filters']}")
            if c.get("groups", 1) != 1:
                parts.append(f"groups {c['groups']}")
        else:
            parts.append(f"depth_multiplier {c['depth_multiplier']}")
        parts.append("bias" if c["use_bias"] else "no bias")
        if _act_name(layer.activation):
            parts.append(f"act {_act_name(layer.activation)}")
    elif kind == "BatchNormalization":
        parts.append(f"eps {c['epsilon']:g} momentum {c['momentum']:g}")
    elif kind == "ZeroPadding2D":
        (t, b), (left, r) = c["padding"]
        parts.append(f"pad top {t} bottom {b} left {left} right {r}")
    elif kind == "ReLU":
        parts.append(f"max {c['max_value']:g}" if c.get("max_value") is not None else "relu")
        if c.get("negative_slope") or c.get("threshold"):
            parts.append(f"slope {c['negative_slope']} threshold {c['threshold']}")
    elif kind == "Activation":
        parts.append(str(c["activation"]))
    elif kind == "Dense":
        parts.append(f"units {c['units']} {'bias' if c['use_bias'] else 'no bias'}")
        if _act_name(layer.activation):
            parts.append(f"act {_act_name(layer.activation)}")
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        parts.append(f"pool {c['pool_size']} s {c['strides']} {c['padding']}")
    elif kind == "GlobalAveragePooling2D":
        parts.append("keepdims" if c.get("keepdims") else "to (N, C)")
    elif kind == "Dropout":
        parts.append(f"rate {c['rate']:g}")
    elif kind in ("Add", "Multiply", "Concatenate"):
        parts.append(f"{len(layer._inbound_nodes[0].input_tensors)} inputs")
    elif kind != "InputLayer" and layer._inbound_nodes:   # a keras.ops operation (MobileNetV3's x + 3.0, x * (1/6))
        consts = [a for a in layer._inbound_nodes[0].arguments.args if isinstance(a, (int, float))]
        if consts:
            parts.append("with constant " + ", ".join(repr(v) for v in consts))
    return ", ".join(parts)


def inputs_of(layer) -> list[str]:
    return [t._keras_history.operation.name for t in layer._inbound_nodes[0].input_tensors]


def h5_keys(model) -> dict[str, str]:
    """Layer name -> its group in ``.weights.h5``: ``layers/<snake_case class>[_k]``, counted per class over
    ``model.layers`` in order (Keras 3 does not use the layer names there)."""
    from keras.src.utils.naming import to_snake_case   # the function Keras' saver names the groups with
    used: collections.Counter = collections.Counter()
    keys = {}
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        keys[layer.name] = f"layers/{base}" + (f"_{used[base]}" if used[base] else "")
        used[base] += 1
    return keys


def h5_groups(path: str | pathlib.Path) -> dict[str, list[tuple[int, ...]]]:
    """Group -> shapes of its ``vars/0..n`` datasets, for the groups holding variables, as stored."""
    import h5py
    out: dict[str, list[tuple[int, ...]]] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj):
                out[name[: -len("/vars")]] = [tuple(obj[str(i)].shape) for i in range(len(obj))]
        f.visititems(visit)
    return out


def layer_table(model) -> list[dict]:
    """One row per operation in graph order: ``model.operations`` is ``model.layers`` (whose order is that
    of ``model.weights``) plus the keras.ops operations recorded in the graph, such as ``x + 3.0``."""
    keys = h5_keys(model)
    rows = []
    for i, layer in enumerate(model.operations):
        rows.append({
            "index": i, "name": layer.name, "kind": kind_of(layer), "config": describe(layer),
            "inputs": [] if not layer._inbound_nodes or type(layer).__name__ == "InputLayer" else inputs_of(layer),
            "output": tuple(layer._inbound_nodes[0].outputs[0].shape[1:]) if layer._inbound_nodes else (),
            "weights": [(w.path.rsplit("/", 1)[-1], tuple(w.shape)) for w in getattr(layer, "weights", [])],
            "h5": keys[layer.name] if getattr(layer, "weights", None) else "",
        })
    return rows


def markdown_table(model) -> str:
    lines = ["| # | layer | kind | configuration | inputs | output (H, W, C) | weights | .weights.h5 group |",
             "|---|---|---|---|---|---|---|---|"]
    for r in layer_table(model):
        w = "; ".join(f"{n} {'x'.join(map(str, s))}" for n, s in r["weights"])
        ins = ", ".join(r["inputs"]) if r["inputs"] and r["inputs"] != [model.operations[r["index"] - 1].name] else ""
        lines.append(f"| {r['index']} | `{r['name']}` | {r['kind']} | {r['config']} | {ins} | "
                     f"{'x'.join(map(str, r['output']))} | {w} | {r['h5']} |")
    return "\n".join(lines) + "\n"


def census(model) -> dict[str, object]:
    """Model-wide facts: layer kinds, BN settings, conv paddings, explicit zero paddings, activations."""
    kinds = collections.Counter(kind_of(op) for op in model.operations)
    bn = collections.Counter(describe(layer) for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    convs = collections.Counter(describe(layer) for layer in model.layers
                                if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D") and "s1 " not in describe(layer))
    pads = collections.Counter(describe(layer) for layer in model.layers if type(layer).__name__ == "ZeroPadding2D")
    return {"layer kinds": dict(kinds), "batch norms": dict(bn), "strided convolutions": dict(convs),
            "zero paddings": dict(pads)}
