"""Graph inputs and outputs: value infos, and the NCHW <-> NHWC transposes of ``io_layout="nhwc"``."""
from __future__ import annotations

import netc.backends.onnx.wire as wire
from netc.backends.onnx.emit import TO_NCHW, TO_NHWC, Emitter
from netc.ir.graph import Graph, Prim, Value

IO_LAYOUTS = ("nchw", "nhwc")


def _value_info(name: str, v: Value, layout: str) -> bytes:
    """float32 tensor info; batch is the symbolic "N", dynamic H/W are "<name>_H" / "<name>_W"."""
    if v.rank == 2:
        return wire.value_info(name, wire.FLOAT, ["N", v.shape[1]])
    _, h, w, c = v.shape
    hd = h if h is not None else f"{name}_H"
    wd = w if w is not None else f"{name}_W"
    dims = ["N", c, hd, wd] if layout == "nchw" else ["N", hd, wd, c]
    return wire.value_info(name, wire.FLOAT, dims)


def wire_inputs(em: Emitter, graph: Graph, layout: str) -> list[bytes]:
    infos = []
    for v in graph.inputs:
        em.tensors.used.add(v.name)
        infos.append(_value_info(v.name, v, layout))
        if layout == "nchw" or v.rank != 4:
            em.names[v.id] = v.name
        else:
            em.names[v.id] = em.tensors.unique(f"{v.name}/nchw")
            em.add("Transpose", [v.name], em.names[v.id], None, perm=TO_NCHW)
    return infos


def reserve_outputs(em: Emitter, graph: Graph, layout: str) -> None:
    """Let each (first-named) output value be computed straight into its output tensor (NCHW io)."""
    em.tensors.used.update(name for name, _ in graph.outputs)
    inputs = {v.id for v in graph.inputs}
    for name, v in graph.outputs:
        if (layout == "nchw" or v.rank != 4) and v.id not in em.names and v.id not in inputs:
            em.names[v.id] = name


def name_values(em: Emitter, graph: Graph) -> None:
    """Claim every emitted IR value's own name before helpers and initializers take names."""
    for node in graph.nodes:
        if node.prim is not Prim.INPUT:
            em.out(node)


def wire_outputs(em: Emitter, graph: Graph, layout: str) -> list[bytes]:
    infos = []
    for name, v in graph.outputs:
        infos.append(_value_info(name, v, layout))
        if layout == "nhwc" and v.rank == 4:
            em.add("Transpose", [em.name(v)], name, None, perm=TO_NHWC)
        elif em.name(v) != name:
            em.add("Identity", [em.name(v)], name, None)
    return infos
