"""The PyTorch backend's table: one emitter per :class:`Prim`, writing stock ``torch.nn`` layers and calls.

Tensors are NCHW inside (netc/backends/nchw.py gives the layouts and pads). TF SAME padding is exact: where
its pads are the same on both sides the layer's own ``padding=`` carries them, otherwise an explicit
``F.pad`` (zeros, or -inf before a max pool) comes first, and an average pool divides by the count of
in-bounds elements as TF does. BN momentum is translated: PyTorch's running average keeps ``1 - momentum``
of the old value, Keras' keeps ``momentum``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from netc.backends import nchw
from netc.backends.torch_state import Emitter, literal
from netc.ir.graph import Node, Prim


def _pair(v: tuple) -> str:
    a, b = (int(x) for x in v)
    return str(a) if a == b else f"({a}, {b})"


def _padded_input(em: Emitter, node: Node, value: str = "") -> tuple[str, str]:
    """(the window op's input expression, its ``padding=`` argument) for the node's pads."""
    x = em.x(node)
    pads = nchw.window_pads(node)
    folded = em.folded_pads.get(node.inputs[0].id)
    if folded is not None:   # a spec's `p`: the zero pad feeding this VALID conv, as its own padding=
        return x, f", padding={_pair(folded)}"
    fill = f", value={value}" if value else ""
    if pads is None:   # TF SAME on a dynamic size: pads worked out from the input at run time
        em.helpers.add("tf_same_pad")
        k, s = node.attrs["kernel_size"], node.attrs["strides"]
        return f"tf_same_pad({x}, {_pair(k)}, {_pair(s)}{fill})", ""
    sym = nchw.symmetric_pads(pads)
    kh, kw = node.attrs["kernel_size"]
    if sym is not None and sym[0] <= kh // 2 and sym[1] <= kw // 2:
        return x, "" if sym == (0, 0) else f", padding={_pair(sym)}"
    return f"F.pad({x}, {nchw.torch_pad_order(pads)}{fill})", ""


def emit_conv(em: Emitter, node: Node) -> None:
    a = node.attrs
    groups = int(a.get("groups", 1))
    cin, cout = node.inputs[0].channels, node.out.channels
    x, padding = _padded_input(em, node)
    bias = "bias" in node.weights
    state = {"weight": nchw.conv_kernel(em.weight(node, "kernel"))}
    if bias:
        state["bias"] = em.weight(node, "bias")
    stride = "" if tuple(a["strides"]) == (1, 1) else f", stride={_pair(a['strides'])}"
    group = "" if groups == 1 else f", groups={groups}"
    conv = em.module(node, f"nn.Conv2d({cin}, {cout}, {_pair(a['kernel_size'])}{stride}{padding}{group}"
                           f"{'' if bias else ', bias=False'})", state)
    em.assign(node, f"{conv}({x})")


def emit_batchnorm(em: Emitter, node: Node) -> None:
    """``nn.BatchNorm2d``/``1d`` where the node has statistics (``affine=False`` plus the one of gamma / beta it
    has, when not both); Keras Normalization (``epsilon_rule`` max) and layer scale (no statistics) as their
    formula over the parameters (gamma, beta) and buffers (mean, variance) of a module of their own."""
    c, rank = node.out.channels, node.out.rank
    has = set(node.weights)
    x = em.x(node)
    per_channel = "view(1, -1, 1, 1)" if rank == 4 else "view(1, -1)"
    if "moving_mean" in has and node.attrs.get("epsilon_rule", "add") == "add":
        cls = "BatchNorm2d" if rank == 4 else "BatchNorm1d"
        momentum = float(f"{1.0 - float(node.attrs['momentum']):.12g}")   # Keras keeps `momentum` of the old mean
        state = {"running_mean": em.weight(node, "moving_mean"), "running_var": em.weight(node, "moving_variance"),
                 "num_batches_tracked": np.zeros((), np.int64)}
        affine = {"gamma", "beta"} <= has
        for key, name in (("gamma", "weight"), ("beta", "bias")):
            if key in has:
                state[name] = em.weight(node, key)
        bn = em.module(node, f"nn.{cls}({c}, eps={float(node.attrs['epsilon'])!r}, momentum={momentum!r}"
                             f"{'' if affine else ', affine=False'})", state)
        if not affine:   # BN without scale or without centre: the one it has, used by forward() as its own
            for key, name, fill in (("gamma", "weight", "ones"), ("beta", "bias", "zeros")):
                if key in has:
                    em.init.append(f"{bn}.{name} = nn.Parameter(torch.{fill}({c}))")
        em.assign(node, f"{bn}({x})")
        return
    holder = em.module(node, "nn.Module()", {})
    state = {}
    expr = x
    if "moving_mean" in has:   # Normalization: (x - mean) / max(sqrt(var), eps), statistics not trained
        for key, name in (("moving_mean", "mean"), ("moving_variance", "variance")):
            em.init.append(f'{holder}.register_buffer("{name}", torch.zeros({c}))')
            state[name] = em.weight(node, key)
        eps = float(node.attrs["epsilon"])
        expr = (f"({expr} - {holder}.mean.{per_channel}) / "
                f"torch.clamp(torch.sqrt({holder}.variance), min={eps!r}).{per_channel}")
    for key, name, fill, op in (("gamma", "weight", "ones", "*"), ("beta", "bias", "zeros", "+")):
        if key in has:
            em.init.append(f"{holder}.{name} = nn.Parameter(torch.{fill}({c}))")
            state[name] = em.weight(node, key)
            expr = f"{expr} {op} {holder}.{name}.{per_channel}"
    attr = holder[len("self."):]
    for key, arr in state.items():
        em.state[f"{attr}.{key}"] = np.array(arr, order="C")
    em.assign(node, expr)


def emit_relu(em: Emitter, node: Node) -> None:
    top = node.attrs.get("max_value")
    x = em.x(node)
    if top is None:
        em.assign(node, f"F.relu({x})")
    elif float(top) == 6.0:
        em.assign(node, f"F.relu6({x})")
    else:
        em.assign(node, f"torch.clamp({x}, 0.0, {literal(top)})")


def _call(fn: str) -> Callable[[Emitter, Node], None]:
    def emit(em: Emitter, node: Node) -> None:
        em.assign(node, f"{fn}({em.x(node)})")
    emit.__doc__ = f"``{fn}(x)``."
    return emit


def emit_prelu(em: Emitter, node: Node) -> None:
    """``nn.PReLU(C)`` for one slope per channel; one slope per element (Keras' default): ``PReLU2d``."""
    alpha = em.weight(node, "alpha")
    c = node.out.channels
    if nchw.per_channel_slope(alpha):
        layer = em.module(node, f"nn.PReLU({c})", {"weight": alpha.reshape(c)})
    else:
        em.helpers.add("PReLU2d")
        slope = nchw.prelu_slope(alpha)
        layer = em.module(node, f"PReLU2d({tuple(int(d) for d in slope.shape)})", {"weight": slope})
    em.assign(node, f"{layer}({em.x(node)})")


def emit_affine(em: Emitter, node: Node) -> None:
    """``x * scale + offset``; per-channel constants are buffers of the node's module (not in the state dict:
    they are the spec's numbers, and move with ``.to(device)``)."""
    if isinstance(node.attrs["scale"], tuple) or isinstance(node.attrs["offset"], tuple):
        c = node.out.channels
        view = f"1, {c}, 1, 1" if node.out.rank == 4 else f"1, {c}"
        holder = em.module(node, "nn.Module()")
        for key in ("scale", "offset"):
            values = np.broadcast_to(np.asarray(node.attrs[key], np.float32), (c,))
            numbers = ", ".join(literal(v) for v in values)
            em.init.append(f'{holder}.register_buffer("{key}", torch.tensor([{numbers}]).reshape({view}), '
                           f'persistent=False)')
        em.assign(node, f"{em.x(node)} * {holder}.scale + {holder}.offset")
        return
    scale, offset = float(np.float32(node.attrs["scale"])), float(np.float32(node.attrs["offset"]))
    expr = em.x(node)
    if scale != 1.0:
        expr = f"{expr} * {literal(scale)}"
    if offset != 0.0:
        expr = f"{expr} {'-' if offset < 0 else '+'} {literal(abs(offset))}"
    em.assign(node, expr)


def emit_add(em: Emitter, node: Node) -> None:
    em.assign(node, " + ".join(em.xs(node)))   # left to right, as the IR sums


def emit_mul(em: Emitter, node: Node) -> None:
    em.assign(node, " * ".join(em.xs(node)))


def emit_concat(em: Emitter, node: Node) -> None:
    em.assign(node, f"torch.cat([{', '.join(em.xs(node))}], dim={nchw.CHANNEL_AXIS})")


def emit_resize(em: Emitter, node: Node) -> None:
    sh, sw = (int(s) for s in node.attrs["scale"])
    x = em.x(node)
    if node.attrs["mode"] == "nearest":   # exact: each pixel repeated (interpolate's 1/scale can round down)
        expr = x if sh == 1 else f"{x}.repeat_interleave({sh}, dim=2)"
        em.assign(node, expr if sw == 1 else f"{expr}.repeat_interleave({sw}, dim=3)")
        return
    em.assign(node, f'F.interpolate({x}, scale_factor=({sh}, {sw}), mode="bilinear", align_corners=False)')


def _pool_args(node: Node) -> str:
    k, s = node.attrs["kernel_size"], node.attrs["strides"]
    return f"{_pair(k)}, {_pair(s)}"


def emit_avgpool(em: Emitter, node: Node) -> None:
    """Averages over each window's in-bounds elements (TF never counts padding)."""
    pads = nchw.window_pads(node)
    x = em.x(node)
    if pads is None:
        em.helpers.update({"tf_same_pad", "avg_pool_same"})
        em.assign(node, f"avg_pool_same({x}, {_pool_args(node)})")
        return
    sym = nchw.symmetric_pads(pads)
    kh, kw = node.attrs["kernel_size"]
    if sym is not None and sym[0] <= kh // 2 and sym[1] <= kw // 2:
        padding = "" if sym == (0, 0) else f", padding={_pair(sym)}, count_include_pad=False"
        em.assign(node, f"F.avg_pool2d({x}, {_pool_args(node)}{padding})")
        return
    em.helpers.add("avg_pool_padded")
    em.assign(node, f"avg_pool_padded({x}, {_pool_args(node)}, {nchw.torch_pad_order(pads)})")


def emit_maxpool(em: Emitter, node: Node) -> None:
    x, padding = _padded_input(em, node, value='float("-inf")')
    em.assign(node, f"F.max_pool2d({x}, {_pool_args(node)}{padding})")


def emit_global_avgpool(em: Emitter, node: Node) -> None:
    keep = ", keepdim=True" if node.attrs.get("keepdims", True) else ""
    em.assign(node, f"{em.x(node)}.mean((2, 3){keep})")


def emit_pad(em: Emitter, node: Node) -> None:
    """``F.pad``; a symmetric zero pad read only by VALID convolutions (a spec's `p`) is folded into their
    ``padding=`` instead (the same zeros, without copying the tensor)."""
    t, l, b, r = (int(p) for p in node.attrs["pads"])
    readers = em.readers(node.out)
    if (t, l) == (b, r) and readers and all(_takes_padding(n, t, l) for n in readers):
        em.vars[node.out.id] = em.x(node)
        em.folded_pads[node.out.id] = (t, l)
        return
    em.assign(node, f"F.pad({em.x(node)}, {nchw.torch_pad_order((t, l, b, r))})")


def _takes_padding(node: Node, top: int, left: int) -> bool:
    """A convolution with no padding of its own, whose padding= can hold (top, left) zeros."""
    if node.prim is not Prim.CONV or nchw.window_pads(node) != (0, 0, 0, 0):
        return False
    kh, kw = node.attrs["kernel_size"]
    return top <= kh // 2 and left <= kw // 2


def emit_flatten(em: Emitter, node: Node) -> None:
    x = em.x(node)
    if nchw.flatten_needs_nhwc(node.inputs[0]):   # Keras' order: H, W, C
        x = f"{x}.permute{nchw.TO_NHWC}"
    em.assign(node, f"torch.flatten({x}, 1)")


def emit_dense(em: Emitter, node: Node) -> None:
    i, o = node.weights["kernel"].shape
    bias = "bias" in node.weights
    state = {"weight": nchw.dense_kernel_out_in(em.weight(node, "kernel"))}
    if bias:
        state["bias"] = em.weight(node, "bias")
    fc = em.module(node, f"nn.Linear({i}, {o}{'' if bias else ', bias=False'})", state)
    if node.inputs[0].rank == 4:   # on the channels of an image: moved last and back
        em.assign(node, f"{fc}({em.x(node)}.permute{nchw.TO_NHWC}).permute{nchw.TO_NCHW}")
    else:
        em.assign(node, f"{fc}({em.x(node)})")


def emit_softmax(em: Emitter, node: Node) -> None:
    em.assign(node, f"torch.softmax({em.x(node)}, dim={nchw.CHANNEL_AXIS})")


def emit_dropout(em: Emitter, node: Node) -> None:
    drop = em.module(node, f"nn.Dropout({float(node.attrs['rate'])!r})")
    em.assign(node, f"{drop}({em.x(node)})")


def emit_crop(em: Emitter, node: Node) -> None:
    t, l, b, r = (int(c) for c in node.attrs["crops"])
    x = em.x(node)
    rows = f"{t}:{x}.shape[2] - {b}" if b else f"{t}:"
    cols = f"{l}:{x}.shape[3] - {r}" if r else f"{l}:"
    em.assign(node, f"{x}[:, :, {rows}, {cols}]")


def emit_layernorm(em: Emitter, node: Node) -> None:
    """``nn.LayerNorm`` over the channels: of an image, with the channels moved last and back."""
    c = node.out.channels
    gamma, beta = "gamma" in node.weights, "beta" in node.weights
    state = {"weight": em.weight(node, "gamma") if gamma else np.ones(c, np.float32)}
    if beta:
        state["bias"] = em.weight(node, "beta")
    if not gamma and not beta:
        state = {}
    affine = "" if gamma or beta else ", elementwise_affine=False"
    bias = "" if beta or not (gamma or beta) else ", bias=False"
    ln = em.module(node, f"nn.LayerNorm({c}, eps={float(node.attrs['epsilon'])!r}{affine}{bias})", state)
    x = em.x(node)
    if node.out.rank == 4:
        em.assign(node, f"{ln}({x}.permute{nchw.TO_NHWC}).permute{nchw.TO_NCHW}")
    else:
        em.assign(node, f"{ln}({x})")


def emit_reduce_mean(em: Emitter, node: Node) -> None:
    em.assign(node, f"{em.x(node)}.mean({nchw.CHANNEL_AXIS}, keepdim=True)")


EmitFn = Callable[[Emitter, Node], None]
EMITTERS: dict[Prim, EmitFn] = {
    Prim.INPUT: lambda em, node: None,   # forward()'s arguments
    Prim.CONV: emit_conv,
    Prim.BATCHNORM: emit_batchnorm,
    Prim.RELU: emit_relu,
    Prim.HARDSWISH: _call("F.hardswish"),
    Prim.SWISH: _call("F.silu"),
    Prim.SIGMOID: _call("torch.sigmoid"),
    Prim.PRELU: emit_prelu,
    Prim.AFFINE: emit_affine,
    Prim.ADD: emit_add,
    Prim.MUL: emit_mul,
    Prim.CONCAT: emit_concat,
    Prim.RESIZE: emit_resize,
    Prim.AVGPOOL: emit_avgpool,
    Prim.MAXPOOL: emit_maxpool,
    Prim.GLOBAL_AVGPOOL: emit_global_avgpool,
    Prim.PAD: emit_pad,
    Prim.FLATTEN: emit_flatten,
    Prim.DENSE: emit_dense,
    Prim.SOFTMAX: emit_softmax,
    Prim.DROPOUT: emit_dropout,
    Prim.CROP: emit_crop,
    Prim.GELU: _call("F.gelu"),
    Prim.LAYERNORM: emit_layernorm,
    Prim.ERF: _call("torch.erf"),
    Prim.REDUCE_MEAN: emit_reduce_mean,
    Prim.RSQRT: _call("torch.rsqrt"),
}

#: Definitions the generated module carries when its layers need them (in this order), plain torch.
HELPERS: dict[str, str] = {
    "tf_same_pad": '''
def tf_same_pad(x, kernel, stride, value=0.0):
    """Pad x as TensorFlow's SAME does for its own size: the odd pixel goes after (bottom, right)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    pads = []
    for size, k, s in ((x.shape[3], kw, sw), (x.shape[2], kh, sh)):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)
''',
    "avg_pool_padded": '''
def avg_pool_padded(x, kernel, stride, pads):
    """Average pool over each window's in-bounds elements, x zero-padded by pads (left, right, top, bottom)."""
    total = F.avg_pool2d(F.pad(x, pads), kernel, stride, divisor_override=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pads), kernel, stride, divisor_override=1)
    return total / count
''',
    "avg_pool_same": '''
def avg_pool_same(x, kernel, stride):
    """TF SAME average pool for x's own size: in-bounds elements only."""
    total = F.avg_pool2d(tf_same_pad(x, kernel, stride), kernel, stride, divisor_override=1)
    count = F.avg_pool2d(tf_same_pad(torch.ones_like(x[:1, :1]), kernel, stride), kernel, stride,
                         divisor_override=1)
    return total / count
''',
    "PReLU2d": '''
class PReLU2d(nn.Module):
    """PReLU with one slope per channel and position, shape (C, H, W) (Keras' PReLU without shared axes)."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, 0.25))

    def forward(self, x):
        return torch.where(x >= 0, x, self.weight * x)
''',
}
