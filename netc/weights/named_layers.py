"""Variables named by their layers (tf_keras, TF checkpoints) grouped into weighted layers for pairing.

tf_keras names a variable after the layers that hold it: ``bottleneck_block_1/conv2d_2/kernel``. Layers a
model creates are numbered per class in creation order (``conv2d_5`` before ``conv2d_8``; a block's sublayers
inside its own scope), so a name tells the layer, the variable's role (its last part) and where the layer
stands in its class's creation order. :func:`named_dag` turns such variables into weighted nodes without
expressions, each with its roles from the names and its ``created`` key, for pair_order.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from netc.weights.keras_graph import Dag
from netc.weights.kinds import FILE_NAMES, KINDS

# variable leaf names -> the IR role they hold (SeparableConv2D's two kernels become two nodes)
_ROLE_NAMES = {"kernel": "kernel", "bias": "bias", "depthwise_kernel": "kernel", "pointwise_kernel": "kernel",
               "gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean", "moving_variance": "moving_variance",
               "alpha": "alpha"}


@dataclass
class NamedVar:
    """One variable: its layer path, leaf name, the name to show, its shape and a reader."""

    layer: str          # bottleneck_block_1/conv2d_2 (or a checkpoint's object path)
    leaf: str           # kernel
    shown: str          # the variable's name as the file gives it
    shape: tuple[int, ...]
    read: Callable[[], np.ndarray]
    created: str | None = None   # the name carrying creation numbers (tf_keras full name), if not ``layer``


def natural(path: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """``bottleneck_block_1/conv2d_2`` -> (("bottleneck_block", "conv2d"), (1, 2)): the stems (which names are
    comparable) and the creation numbers (an unnumbered name is number 0)."""
    stems, nums = [], []
    for part in path.split("/"):
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", part)
        stems.append(m.group(1))
        nums.append(int(m.group(2) or 0))
    return tuple(stems), tuple(nums)


def _kind_of(roles: dict[str, tuple[int, ...]]) -> str:
    if set(roles) >= {"moving_mean", "moving_variance"} and all(len(s) == 1 for s in roles.values()):
        return "bn"
    if "alpha" in roles:
        return "prelu"
    k = roles.get("kernel")
    if k is not None and len(k) == 4:
        return "conv"
    if k is not None and len(k) == 2:
        return "dense"
    return "other"


def named_dag(variables: list[NamedVar], source_kind: str) -> Dag:
    """Weighted nodes, one per layer (two for a separable conv), in the variables' order."""
    layers: dict[str, list[NamedVar]] = {}
    for v in variables:
        if v.leaf in ("depthwise_kernel", "pointwise_kernel"):   # a separable conv's halves: two nodes
            has_pw = any(w.layer == v.layer and w.leaf == "pointwise_kernel" for w in variables)
            key = v.layer + ("/depthwise" if v.leaf == "depthwise_kernel" and has_pw else
                             "/pointwise" if has_pw else "")
        else:
            key = v.layer + ("/pointwise" if v.leaf == "bias" and any(
                w.layer == v.layer and w.leaf == "pointwise_kernel" for w in variables) else "")
        layers.setdefault(key, []).append(v)
    dag = Dag(order_by="kind", source_kind=source_kind)
    for name, vs in layers.items():
        roles = {_ROLE_NAMES.get(v.leaf, v.leaf): v for v in vs}
        kind = _kind_of({r: v.shape for r, v in roles.items()})
        order = KINDS[kind].roles if kind in KINDS else tuple(roles)
        if kind == "bn":   # BatchNormalization(scale=False / center=False): identity gamma / beta
            order = tuple(r for r in order if r in roles)
        shapes = tuple(roles[r].shape for r in order if r in roles)
        stems, nums = natural(vs[0].created or name)
        cls = FILE_NAMES.get(stems[-1], "")
        tname = cls or (KINDS[kind].keras_classes[0] if kind in KINDS else f"unrecognised variables {sorted(roles)}")
        if kind == "conv" and "depthwise_kernel" in {v.leaf for v in vs}:
            tname = "DepthwiseConv2D"
        dag.add(kind=kind, sig=("weights", kind, shapes), expr=None, name=name, type=tname,
                variables={r: roles[r].shown for r in order if r in roles},
                read=_reader(roles, kind), created=(stems, nums))
    return dag


def _reader(roles: dict[str, NamedVar], kind: str) -> Callable[[str], np.ndarray]:
    def read(role: str) -> np.ndarray:
        if role in roles:
            return roles[role].read()
        if kind == "bn" and role in KINDS["bn"].identity:
            c = next(iter(roles.values())).shape[0]
            return np.full(c, KINDS["bn"].identity[role], np.float32)
        raise KeyError(role)
    return read
