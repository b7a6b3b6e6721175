"""Builder: the API block definitions lower through. Infers shapes and checks operands.

Each method adds one primitive node, computes its output shape, and raises a located
:class:`NetcError` (at the block being lowered) when operands do not fit.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

from netc.diagnostics import NetcError
from netc.ir.naming import UniqueNames
from netc.ir.graph import Graph, Node, Origin, Prim, Shape, Value, Weight


def fmt_shape(shape: Shape) -> str:
    """(None, 28, 28, 38) -> 'Nx28x28x38' as users read shapes."""
    return "x".join("N" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape))


def fmt_hw(shape: Shape) -> str:
    """The non-batch, non-channel dims: '28x28' of an image, '' of a feature vector."""
    return "x".join("?" if d is None else str(d) for d in shape[1:-1])


def same_pads(size: int | None, k: int, s: int) -> tuple[int | None, int, int]:
    """TF SAME: (out, pad_before, pad_after); the extra pixel goes after."""
    if size is None:
        return None, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def valid_out(size: int | None, k: int, s: int) -> int | None:
    if size is None:
        return None
    return (size - k) // s + 1


class Builder:
    """Accumulates a :class:`Graph`. The semantic pass sets ``origin`` before lowering each block."""

    def __init__(self, name: str = "netc_model"):
        self.graph = Graph(name=name)
        self._ids = 0
        self._names = UniqueNames()
        self._weight_names: set[str] = set()
        self._scope: list[str] = []
        self.origin = Origin(None, "", "", "")

    @property
    def origin(self) -> Origin:
        """The block being lowered; the semantic pass sets it before each block."""
        return self._origin

    @origin.setter
    def origin(self, origin: Origin) -> None:
        self._origin = origin
        self._prefix: str | None = None   # "stack/block/scope...", made again on first use

    # ----------------------------------------------------------------- plumbing
    def error(self, message: str) -> NetcError:
        return NetcError(message, self.origin.span)

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Nest sublayer names, as the original nests Keras layers (``conv1/expansion_conv``)."""
        self._scope.append(name)
        self._prefix = None
        try:
            yield
        finally:
            self._scope.pop()
            self._prefix = None

    def _path(self, name: str) -> str:
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = "/".join(filter(None, (self._origin.stack, self._origin.block, *self._scope)))
        return f"{prefix}/{name}" if prefix and name else prefix or name

    def _unique(self, name: str) -> str:
        return self._names.unique(name)

    def _add(self, prim: Prim, inputs: Sequence[Value], shape: Shape, name: str,
             attrs: dict | None = None, weights: dict[str, Weight] | None = None) -> Value:
        path = self._unique(self._path(name or prim.value))
        self._ids += 1
        out = Value(self._ids, tuple(shape), path)
        o = self._origin
        origin = Origin(o.span, o.stack, o.block, o.text, path)
        node = Node(prim, tuple(inputs), out, path, origin, attrs or {}, weights or {})
        out.producer = node
        self.graph.nodes.append(node)
        return out

    def _weight(self, layer: str, var: str, shape: tuple, role: str, *, ext_shape: tuple | None = None,
                trainable: bool = True, fans: tuple[int, int] = (0, 0)) -> Weight:
        prefix = self._path(layer)
        name = f"{prefix}/{var}"
        if name in self._weight_names:  # a block definition bug, never a user error
            raise AssertionError(f"two weights named {name!r}: give the layers distinct names")
        self._weight_names.add(name)
        return Weight(f"{prefix}/{var}", tuple(shape), role, tuple(ext_shape or shape), trainable, fans)

    # ------------------------------------------------------------------- inputs
    def input(self, name: str, shape: Shape) -> Value:
        self._ids += 1
        v = Value(self._ids, tuple(shape), self._unique(name))
        node = Node(Prim.INPUT, (), v, v.name, self.origin, {"name": name})
        v.producer = node
        self.graph.nodes.append(node)
        self.graph.inputs.append(v)
        return v

    # --------------------------------------------------------------- arithmetic
    def affine(self, x: Value, scale: float, offset: float, name: str = "affine") -> Value:
        return self._add(Prim.AFFINE, [x], x.shape, name, {"scale": float(scale), "offset": float(offset)})

    def relu(self, x: Value, max_value: float | None = None, name: str = "act") -> Value:
        return self._add(Prim.RELU, [x], x.shape, name, {"max_value": max_value})

    def hardswish(self, x: Value, name: str = "act") -> Value:
        return self._add(Prim.HARDSWISH, [x], x.shape, name)

    def swish(self, x: Value, name: str = "act") -> Value:
        return self._add(Prim.SWISH, [x], x.shape, name)

    def sigmoid(self, x: Value, name: str = "act") -> Value:
        return self._add(Prim.SIGMOID, [x], x.shape, name)

    def prelu(self, x: Value, name: str = "act", per_channel: bool = False) -> Value:
        """PReLU; Keras default (``per_channel=False``) has one alpha per (H, W, C) element."""
        if x.rank == 2:
            wt = self._weight(name, "alpha", (x.channels,), "alpha")
            return self._add(Prim.PRELU, [x], x.shape, name, {"shared_axes": None}, {"alpha": wt})
        _, h, w, c = x.shape
        if per_channel:
            shape, axes = (1, 1, c), (1, 2)
        else:
            if h is None or w is None:
                raise self.error(
                    "activation `pre` (PReLU with one alpha per H x W x C element, as in tf_netbuilder) "
                    f"needs a static input size, but this block's input is {fmt_shape(x.shape)}; "
                    "give the input a fixed size, or use the per-channel PReLU `prc`")
            shape, axes = (h, w, c), None
        wt = self._weight(name, "alpha", shape, "alpha")
        return self._add(Prim.PRELU, [x], x.shape, name, {"shared_axes": axes}, {"alpha": wt})

    def _need_rank(self, x: Value, rank: int, what: str) -> None:
        if x.rank != rank:
            kind = {4: "an image tensor (N x H x W x C)", 2: "a feature tensor (N x C)"}.get(rank, f"rank {rank}")
            raise self.error(f"{what} needs {kind}, but its input is {fmt_shape(x.shape)}"
                             + ("; flatten or pool it first (`flatten`, `gap`)" if rank == 2 else ""))

    def _broadcast(self, a: Value, b: Value, what: str, a_name: str | None, b_name: str | None) -> tuple:
        if a.rank != b.rank:
            an, bn = a_name or a.name, b_name or b.name
            raise self.error(f"{what}: `{an}` is {fmt_shape(a.shape)} but `{bn}` is {fmt_shape(b.shape)}: "
                             f"the ranks differ")
        out = []
        for da, db in zip(a.shape, b.shape):
            if da is None or db is None:
                out.append(None if (da in (None, 1) and db in (None, 1)) else (da if db in (None, 1) else db))
            elif da == db or db == 1:
                out.append(da)
            elif da == 1:
                out.append(db)
            else:
                an, bn = a_name or a.name, b_name or b.name
                raise self.error(f"{what}: shapes do not broadcast: `{an}` is {fmt_shape(a.shape)} "
                                 f"but `{bn}` is {fmt_shape(b.shape)}")
        return tuple(out)

    def add(self, a: Value, b: Value, name: str = "add", **kw) -> Value:
        return self.add_n([a, b], name, names=[kw.get("a_name") or a.name, kw.get("b_name") or b.name])

    def add_n(self, xs: Sequence[Value], name: str = "add", names: Sequence[str] | None = None) -> Value:
        """Element-wise sum of two or more tensors (broadcasting)."""
        if len(xs) < 2:
            raise self.error(f"add needs at least 2 tensors, found {len(xs)}")
        names = list(names or [x.name for x in xs])
        shape = xs[0].shape
        for x, n in zip(xs[1:], names[1:]):
            shape = self._broadcast(Value(0, shape, names[0]), x, "add", names[0], n)
        return self._add(Prim.ADD, list(xs), shape, name)

    def mul(self, a: Value, b: Value, name: str = "mul", a_name: str | None = None,
            b_name: str | None = None) -> Value:
        return self._add(Prim.MUL, [a, b], self._broadcast(a, b, "mul", a_name, b_name), name)

    def concat(self, xs: Sequence[Value], name: str = "concat", names: Sequence[str] | None = None) -> Value:
        """Concatenation on the channel (last) axis; the other dims must agree."""
        names = list(names or [x.name for x in xs])
        ref = xs[0]
        for x, n in zip(xs[1:], names[1:]):
            if x.rank != ref.rank:
                raise self.error(f"concat: `{names[0]}` is {fmt_shape(ref.shape)} but `{n}` is "
                                 f"{fmt_shape(x.shape)}: the ranks differ")
            for axis in range(1, ref.rank - 1):
                if ref.shape[axis] is not None and x.shape[axis] is not None and ref.shape[axis] != x.shape[axis]:
                    raise self.error(
                        f"concat: spatial sizes differ: `{names[0]}` is {fmt_hw(ref.shape)} "
                        f"({fmt_shape(ref.shape)}) but `{n}` is {fmt_hw(x.shape)} ({fmt_shape(x.shape)})")
        inner = tuple(next((x.shape[axis] for x in xs if x.shape[axis] is not None), None)
                      for axis in range(1, ref.rank - 1))
        c = sum(x.shape[-1] for x in xs)
        return self._add(Prim.CONCAT, list(xs), (None, *inner, c), name)

    def resize(self, x: Value, factor: int = 2, mode: str = "bilinear", name: str = "resize") -> Value:
        """Upsample H and W by an integer ``factor`` (bilinear half-pixel, or nearest)."""
        self._need_rank(x, 4, "resize")
        if mode not in ("bilinear", "nearest"):
            raise self.error(f"resize: unknown mode `{mode}` (bilinear, nearest)")
        n, h, w, c = x.shape
        shape = (n, None if h is None else h * factor, None if w is None else w * factor, c)
        return self._add(Prim.RESIZE, [x], shape, name, {"scale": (factor, factor), "mode": mode})

    def pad(self, x: Value, pads: tuple[int, int, int, int], name: str = "pad") -> Value:
        """Zero padding of H and W by (top, left, bottom, right)."""
        self._need_rank(x, 4, "pad")
        t, l, b_, r = (int(p) for p in pads)
        n, h, w, c = x.shape
        shape = (n, None if h is None else h + t + b_, None if w is None else w + l + r, c)
        return self._add(Prim.PAD, [x], shape, name, {"pads": (t, l, b_, r)})

    def flatten(self, x: Value, name: str = "flatten") -> Value:
        """(N, H, W, C) -> (N, H*W*C) in NHWC order (as Keras' Flatten); needs static sizes."""
        self._need_rank(x, 4, "flatten")
        n, h, w, c = x.shape
        if h is None or w is None:
            raise self.error(f"flatten needs a static size, but its input is {fmt_shape(x.shape)}; use global "
                             f"pooling (`gap`) for a dynamic size")
        return self._add(Prim.FLATTEN, [x], (n, h * w * c), name)

    def dense(self, x: Value, units: int, bias: bool = True, name: str = "dense") -> Value:
        """Fully connected layer on (N, I): kernel (I, units), optional bias."""
        self._need_rank(x, 2, "dense")
        cin = x.channels
        weights = {"kernel": self._weight(name, "kernel", (cin, units), "kernel", fans=(cin, units))}
        if bias:
            weights["bias"] = self._weight(name, "bias", (units,), "bias")
        return self._add(Prim.DENSE, [x], (x.shape[0], units), name, {}, weights)

    def softmax(self, x: Value, name: str = "softmax") -> Value:
        return self._add(Prim.SOFTMAX, [x], x.shape, name)

    def dropout(self, x: Value, rate: float, name: str = "dropout") -> Value:
        if not 0.0 <= rate < 1.0:
            raise self.error(f"dropout rate must be in [0, 1), found {rate:g}")
        return self._add(Prim.DROPOUT, [x], x.shape, name, {"rate": float(rate)})

    # ----------------------------------------------------------- windowed ops
    def _window(self, x: Value, k: int, s: int, padding: str, what: str) -> tuple[Shape, tuple]:
        self._need_rank(x, 4, what)
        n, h, w, c = x.shape
        if padding == "same":
            oh, pt, pb = same_pads(h, k, s)
            ow, pl, pr = same_pads(w, k, s)
            pads = None if h is None or w is None else (pt, pl, pb, pr)
        else:
            for size in (h, w):
                if size is not None and size < k:
                    raise self.error(f"{what}: kernel {k}x{k} is larger than its {fmt_hw(x.shape)} input "
                                     f"(padding VALID, input {fmt_shape(x.shape)})")
            oh, ow = valid_out(h, k, s), valid_out(w, k, s)
            pads = (0, 0, 0, 0)
        return (n, oh, ow, c), pads

    def conv(self, x: Value, filters: int, kernel: int, stride: int = 1, padding: str = "same",
             groups: int = 1, bias: bool = False, name: str = "conv") -> Value:
        """Conv2D (groups=1) or grouped conv; kernel layout HWIO with I = cin / groups."""
        cin = x.channels
        if filters < 1:
            raise self.error(f"conv: {filters} output channels; a convolution needs at least 1 (a width scale "
                             f"or ratio too small?)")
        if cin % groups or filters % groups:
            raise self.error(f"conv: {cin} input and {filters} output channels are not divisible "
                             f"into {groups} groups")
        shape, pads = self._window(x, kernel, stride, padding, "conv")
        shape = shape[:3] + (filters,)
        cin_g = cin // groups
        kshape = (kernel, kernel, cin_g, filters)
        fans = (kernel * kernel * cin_g, kernel * kernel * filters)
        weights = {"kernel": self._weight(name, "kernel", kshape, "kernel", fans=fans)}
        if bias:
            weights["bias"] = self._weight(name, "bias", (filters,), "bias")
        attrs = {"kernel_size": (kernel, kernel), "strides": (stride, stride), "padding": padding,
                 "pads": pads, "groups": groups}
        return self._add(Prim.CONV, [x], shape, name, attrs, weights)

    def depthwise(self, x: Value, kernel: int, stride: int = 1, padding: str = "same",
                  name: str = "depthwise_conv") -> Value:
        """Depthwise conv (multiplier 1); stored (kh, kw, 1, C), saved as Keras' (kh, kw, C, 1)."""
        c = x.channels
        shape, pads = self._window(x, kernel, stride, padding, "depthwise conv")
        fans = (kernel * kernel * c, kernel * kernel)
        wt = self._weight(name, "depthwise_kernel", (kernel, kernel, 1, c), "depthwise_kernel",
                          ext_shape=(kernel, kernel, c, 1), fans=fans)
        attrs = {"kernel_size": (kernel, kernel), "strides": (stride, stride), "padding": padding,
                 "pads": pads, "groups": c}
        return self._add(Prim.CONV, [x], shape, name, attrs, {"kernel": wt})

    def batchnorm(self, x: Value, name: str = "bn", epsilon: float = 1e-3, momentum: float = 0.99) -> Value:
        c = (x.channels,)
        weights = {
            "gamma": self._weight(name, "gamma", c, "gamma"),
            "beta": self._weight(name, "beta", c, "beta"),
            "moving_mean": self._weight(name, "moving_mean", c, "moving_mean", trainable=False),
            "moving_variance": self._weight(name, "moving_variance", c, "moving_variance", trainable=False),
        }
        return self._add(Prim.BATCHNORM, [x], x.shape, name, {"epsilon": epsilon, "momentum": momentum}, weights)

    def pool(self, kind: str, x: Value, kernel: int, stride: int, padding: str = "valid",
             name: str = "pool") -> Value:
        prim = Prim.AVGPOOL if kind == "avg" else Prim.MAXPOOL
        shape, pads = self._window(x, kernel, stride, padding, f"{kind}pool")
        attrs = {"kernel_size": (kernel, kernel), "strides": (stride, stride), "padding": padding, "pads": pads}
        return self._add(prim, [x], shape, name, attrs)

    def global_avgpool(self, x: Value, name: str = "pool", keepdims: bool = True) -> Value:
        """Mean over H and W: (N, 1, 1, C) with ``keepdims``, else (N, C)."""
        self._need_rank(x, 4, "global average pooling")
        n, _, _, c = x.shape
        shape = (n, 1, 1, c) if keepdims else (n, c)
        return self._add(Prim.GLOBAL_AVGPOOL, [x], shape, name, {"keepdims": keepdims})

    # ----------------------------------------------------------------- outputs
    def output(self, name: str, v: Value) -> None:
        self.graph.outputs.append((name, v))

