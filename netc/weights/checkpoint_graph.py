"""TF2 object-based checkpoints of a Keras model, read through their object graph.

``model.save_weights`` (TF format), ``tf.train.Checkpoint(model=...)`` and a trainer's checkpoint key each
variable by its path in the saved objects (``model/backbone/layer_with_weights-2/_shortcut/kernel``);
``_CHECKPOINTABLE_OBJECT_GRAPH`` says which keys are variables and gives each its full name, which records
where its layer stands in creation order (``bottleneck_block/conv2d``). Optimizer slots, counters and other
bookkeeping are ignored. A checkpoint holding more than the model (a detector: backbone, head, optimizer)
is narrowed to one subtree: the one named (``subtree``), or the one subtree whose variables' shapes are
exactly the spec's.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.source import KerasSource

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def object_graph_variables(reader: Any) -> list[tuple[str, str]] | None:
    """(checkpoint key, full name) of every variable the object graph lists, or None without a graph."""
    if "_CHECKPOINTABLE_OBJECT_GRAPH" not in reader.get_variable_to_shape_map():
        return None
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception:  # noqa: BLE001 - a damaged graph: fall back to the keys
        return None
    out = []
    for node in graph.nodes:
        for a in node.attributes:
            if a.name == "VARIABLE_VALUE" and a.checkpoint_key.endswith(SUFFIX):
                out.append((a.checkpoint_key, a.full_name))
    return out


def _is_bookkeeping(path: str) -> bool:
    parts = path.split("/")
    return (parts[0] in ("optimizer", "save_counter", "global_step", "step") or ".OPTIMIZER_SLOT" in parts
            or "keras_api" in parts or parts[-1] in ("iter", "step", "global_step"))


def keras_checkpoint_source(prefix: str, reader: Any, spec_shapes: list[tuple[int, ...]],
                            subtree: str | None = None, kind: str = "TF checkpoint") -> KerasSource | None:
    """The Keras layers of the checkpoint's chosen subtree, or None when it has no object graph with the full
    names of Keras variables."""
    listed = object_graph_variables(reader)
    if not listed:
        return None
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    entries = []   # (object path, full name, key, shape)
    for key, full in listed:
        path = key[: -len(SUFFIX)]
        if _is_bookkeeping(path) or key not in shapes or not dtypes[key].is_floating:
            continue
        entries.append((path, re.sub(r":\d+$", "", full), key, tuple(int(d) for d in shapes[key])))
    if not entries or not all(full for _, full, _, _ in entries):
        return None
    root = _choose_subtree([e[0] for e in entries], [e[3] for e in entries], spec_shapes, subtree, prefix)
    mine = Counter(e[3] for e in entries if not root or e[0].startswith(root + "/"))
    if spec_shapes and subtree is None and sum((mine & Counter(spec_shapes)).values()) < len(spec_shapes) / 2:
        return None   # not this model's variables: the caller says so ("is it another model's?")
    from netc.weights.named_layers import NamedVar, named_dag
    variables = []
    for path, full, key, shape in entries:
        if root and not path.startswith(root + "/"):
            continue
        rel = path[len(root) + 1:] if root else path
        layer, _, leaf = rel.rpartition("/")
        created = full.rpartition("/")[0] or full
        variables.append(NamedVar(layer or rel, leaf, rel, shape,
                                  (lambda key: lambda: np.asarray(reader.get_tensor(key)))(key), created=created))
    src = KerasSource(prefix, kind, named_dag(variables, kind), topology=False)
    where = f" (subtree `{root}`)" if root else ""
    src.notes.append(f"{kind} `{prefix}`{where}: a Keras model's variables without its graph; its layers were "
                     f"paired by class and shapes, look-alikes by the creation order their names record")
    return src


def _choose_subtree(paths: list[str], shapes: list[tuple[int, ...]], spec: list[tuple[int, ...]],
                    subtree: str | None, prefix: str) -> str:
    """The object path whose variables are the model: ``subtree`` (a path, or a name found anywhere), else
    the one subtree whose variables' shapes are exactly the spec's, else the root."""
    prefixes: dict[str, list[int]] = {"": list(range(len(paths)))}
    for i, p in enumerate(paths):
        parts = p.split("/")
        for k in range(1, len(parts)):
            prefixes.setdefault("/".join(parts[:k]), []).append(i)
    if subtree:
        named = [p for p in prefixes if p == subtree or p.endswith("/" + subtree) or p.split("/")[-1] == subtree]
        named = sorted(set(named), key=lambda p: p.count("/"))
        if not named:
            tops = sorted({p.split("/")[0] for p in paths})
            raise NetcError(f"checkpoint `{prefix}` has no subtree `{subtree}`; its top-level objects: "
                            + ", ".join(f"`{t}`" for t in tops))
        return named[0]
    want = Counter(spec)
    fits = {}
    for p, idx in prefixes.items():
        if Counter(shapes[i] for i in idx) == want:
            fits.setdefault(frozenset(idx), p)   # the shallowest path of each set of variables
    if len(fits) == 1:
        return next(iter(fits.values()))
    if len(fits) > 1:
        names = ", ".join(f"`{p or '(root)'}`" for p in sorted(fits.values()))
        raise NetcError(f"checkpoint `{prefix}`: several subtrees fit the spec ({names}); choose one with "
                        f"`--subtree NAME`")
    return ""
