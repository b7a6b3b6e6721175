"""Fuse parallel linear branches that one add sums into a single convolution (RepVGG re-parameterisation).

An add whose inputs are all computed from the same tensor ``x`` by convolutions (with bias, BNs already
folded by :func:`netc.ir.passes.fold_batchnorm`), per-channel batch norms of ``x``, or ``x`` itself, is one
convolution: each branch's kernel is placed inside the largest kernel at the offset where its window
starts relative to the largest one's (from the pads each branch actually uses: with TF SAME at stride 2
on even sizes a 1x1 branch samples the 3x3 window's top-left pixel, not its centre; a conv reading a zero pad,
a spec's `p1`, counts that pad as its own), then summed in float64.
"""
from __future__ import annotations

import numpy as np

from netc.ir.builder import same_pads
from netc.ir.graph import Graph, Node, Prim, Value, Weight
from netc.ir.passes.fold import bn_scale_shift, stored_dtype
from netc.ir.rewrite import Uses, copy_graph, drop_nodes
from netc.ir.weights import WeightValues


def _zero_pad(node: Node, uses: Uses | None = None) -> Node | None:
    """The zero pad a VALID conv reads (a spec's `p1`: timm's RepVGG), read by nothing else; else None."""
    if node is None or not node.inputs:
        return None
    pad = node.inputs[0].producer
    if pad is None or pad.prim is not Prim.PAD or node.attrs.get("padding") != "valid":
        return None
    return pad if uses is None or uses.sole_reader(pad.out) is node else None


def _pads(node: Node, x: Value) -> tuple[int, int] | None:
    """(top, left) padding of a conv (with a zero pad it reads: `_zero_pad`) or of an implicit 1x1 identity;
    None when unknown (dynamic, stride > 1)."""
    if node is None:
        return (0, 0)
    pad = _zero_pad(node)
    if pad is not None:
        return int(pad.attrs["pads"][0]), int(pad.attrs["pads"][1])
    pads = node.attrs.get("pads")
    if pads is not None:
        return pads[0], pads[1]
    (kh, kw), (sh, sw) = node.attrs["kernel_size"], node.attrs["strides"]
    if node.attrs.get("padding") != "same":
        return (0, 0)
    if sh != 1 or sw != 1:
        return None
    return same_pads(1, kh, 1)[1], same_pads(1, kw, 1)[1]


def _branch(v: Value, add: Node, uses: Uses) -> tuple[str, Node | None, Value]:
    """(kind, node, source) of one summand: ("conv", conv, x), ("bn", bn, x) or ("identity", None, v)."""
    p = v.producer
    if p is not None and uses.sole_reader(v) is add:
        if p.prim is Prim.CONV:
            pad = _zero_pad(p, uses)
            return "conv", p, (pad.inputs[0] if pad is not None else p.inputs[0])
        if p.prim is Prim.BATCHNORM and p.inputs[0].rank == 4:
            return "bn", p, p.inputs[0]
    return "identity", None, v


def fuse_branches(graph: Graph, weights: WeightValues) -> tuple[Graph, WeightValues]:
    g = copy_graph(graph)
    out = dict(weights)
    uses = Uses(g)
    dead: set[int] = set()
    for add in [n for n in g.nodes if n.prim is Prim.ADD]:
        parts = [_branch(v, add, uses) for v in add.inputs]
        sources = {id(src) for _, _, src in parts}
        convs = [n for kind, n, _ in parts if kind == "conv"]
        if len(sources) != 1 or not convs or len(parts) < 2:
            continue
        fused = _fuse(parts, convs, add, out)
        if fused is None:
            continue
        main, kernel, bias = fused
        dtype = stored_dtype(np.asarray(out[main.weights["kernel"].name]))
        kernel, bias = kernel.astype(dtype, copy=False), bias.astype(dtype, copy=False)
        out[main.weights["kernel"].name] = kernel
        bw = main.weights.get("bias")
        if bw is None:
            bw = main.weights["bias"] = Weight(f"{main.name}/bias", (kernel.shape[-1],), "bias", (kernel.shape[-1],))
        out[bw.name] = bias
        for kind, n, _ in parts:
            if n is not None and n is not main:
                for w in n.weights.values():
                    out.pop(w.name, None)
                dead.add(id(n))
                if kind == "conv" and _zero_pad(n, uses) is not None:
                    dead.add(id(_zero_pad(n)))
        uses.replace(add.out, main.out)
        dead.add(id(add))
    drop_nodes(g, dead)
    return g, out


def _fuse(parts, convs: list[Node], add: Node, weights: WeightValues):
    """(main conv, fused kernel, fused bias) in float64, or None when the branches cannot be one conv."""
    main = max(convs, key=lambda n: n.attrs["kernel_size"])
    x = parts[0][2]   # the one tensor every branch reads (through a conv's zero pad, where it has one)
    strides, groups = main.attrs["strides"], main.attrs.get("groups", 1)
    kh, kw = main.attrs["kernel_size"]
    origin = _pads(main, x)
    if origin is None:
        return None
    cout = main.out.channels
    kernel = np.zeros((kh, kw, x.channels // groups, cout), np.float64)
    bias = np.zeros(cout, np.float64)
    for kind, node, _ in parts:
        if kind == "conv":
            if node.attrs["strides"] != strides or node.attrs.get("groups", 1) != groups or node.out.shape != main.out.shape:
                return None
            k = np.asarray(weights[node.weights["kernel"].name], np.float64)
            if "bias" in node.weights:
                bias += np.asarray(weights[node.weights["bias"].name], np.float64)
            scale = None
        else:
            if strides != (1, 1) or x.channels != cout or x.shape != main.out.shape:
                return None
            k = _identity_kernel(cout, groups)
            scale, shift = (bn_scale_shift(node, weights) if kind == "bn" else (np.ones(cout), np.zeros(cout)))
            k = k * scale
            bias += shift
        pads = _pads(node if kind == "conv" else None, x)
        if pads is None:
            return None
        top, left = origin[0] - pads[0], origin[1] - pads[1]
        h, w = k.shape[:2]
        if top < 0 or left < 0 or top + h > kh or left + w > kw:
            return None
        kernel[top:top + h, left:left + w] += k
    return main, kernel, bias


def _identity_kernel(channels: int, groups: int) -> np.ndarray:
    """The 1x1 kernel (1, 1, C/groups, C) of the identity for a grouped conv."""
    per = channels // groups
    k = np.zeros((1, 1, per, channels), np.float64)
    for c in range(channels):
        k[0, 0, c % per, c] = 1.0
    return k
