"""One Keras layer of a loaded model -> its weighted nodes in the DAG (the per-class adapters).

Each weighted Keras class is read here into the signature of its kind (netc/weights/kinds/): Conv2D,
DepthwiseConv2D, SeparableConv2D (two nodes), BatchNormalization (scale/center False: the identity values),
PReLU, Dense (a 1x1 conv on an NHWC tensor). Layers without weights combine their inputs' expressions.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.keras_graph import Dag, Expr, combine, conv_sig


# InceptionResNetV2's CustomScaleLayer computes x + up * scale: a sum, as a spec writes it (a scale, then `add:`)
_MERGE = {"Add": "+", "Multiply": "*", "Concatenate": "cat", "CustomScaleLayer": "+"}


def layer_expr(keras: Any, op: Any, ins: list[Expr], dag: Dag, calls: dict[int, int]) -> Expr:
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
