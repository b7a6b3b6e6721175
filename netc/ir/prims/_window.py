"""What the windowed primitives (conv, separable conv, pools) share: pads, the window contract, patches."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from netc.ir.prims._base import np
from netc.ir.shapes import same_pads

if TYPE_CHECKING:  # pragma: no cover
    from netc.ir.graph import Node

WINDOW_ATTRS = ("kernel_size", "strides", "padding", "pads")


def window_pads(node: "Node", x: Any) -> tuple[int, int, int, int]:
    """(top, left, bottom, right): the node's static pads, or TF SAME pads for ``x``'s actual size."""
    pads = node.attrs.get("pads")
    if pads is not None:
        return tuple(pads)
    if node.attrs.get("padding") != "same":
        return (0, 0, 0, 0)
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    _, pt, pb = same_pads(x.shape[1], kh, sh)
    _, pl, pr = same_pads(x.shape[2], kw, sw)
    return (pt, pl, pb, pr)


def windows(node: "Node", x: Any, fill: float) -> Iterator[tuple[int, int, Any]]:
    """Pad ``x`` and yield the strided (N, oh, ow, C) slice of every kernel offset."""
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    pt, pl, pb, pr = window_pads(node, x)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]


def check_window(n: "Node") -> str | None:
    """Padding mode, pads and the output size that follows from them."""
    pads = n.attrs.get("pads")
    if n.attrs["padding"] not in ("same", "valid"):
        return f"padding {n.attrs['padding']!r}"
    for key in ("kernel_size", "strides"):
        v = n.attrs[key]
        if len(v) != 2 or min(v) < 1:
            return f"{key} {v}: expected an (h, w) pair of positive ints"
    if pads is not None and (len(pads) != 4 or min(pads) < 0):
        return f"pads {pads}"
    x, y = n.inputs[0], n.out
    if pads is not None and None not in x.shape[1:3] and None not in y.shape[1:3]:
        (kh, kw), (sh, sw) = n.attrs["kernel_size"], n.attrs["strides"]
        oh = (x.shape[1] + pads[0] + pads[2] - kh) // sh + 1
        ow = (x.shape[2] + pads[1] + pads[3] - kw) // sw + 1
        if (oh, ow) != tuple(y.shape[1:3]):
            return f"output {y.shape[1:3]} does not follow from input {x.shape[1:3]}, pads {pads}"
    return None


def grouped_conv(node: "Node", x: Any, k: Any, groups: int) -> Any:
    """Grouped cross-correlation of float64 ``x`` with kernel (kh, kw, cin/groups, cout), float64."""
    cin_g, cout = k.shape[2], k.shape[3]
    cout_g = cout // groups
    acc = None
    for i, j, patch in windows(node, x, 0.0):
        if groups == 1:
            term = patch @ k[i, j]
        elif cin_g == 1 and cout_g == 1:
            term = patch * k[i, j, 0]
        else:
            n, oh, ow, _ = patch.shape
            xg = patch.reshape(-1, groups, cin_g).transpose(1, 0, 2)
            kg = k[i, j].reshape(cin_g, groups, cout_g).transpose(1, 0, 2)
            term = (xg @ kg).transpose(1, 0, 2).reshape(n, oh, ow, cout)
        acc = term if acc is None else acc + term
    return acc
