"""The state of one ONNX conversion: tensor and node names, initializers, nodes with shared attributes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from netc.backends import nchw
import netc.backends.onnx.wire as wire
from netc.diagnostics import NetcError
from netc.ir.graph import Graph, Node, Value
from netc.ir.naming import UniqueNames
from netc.ir.weights import WeightValues

if TYPE_CHECKING:
    from netc.backends.onnx.external import ExternalData

TO_NCHW, TO_NHWC = list(nchw.TO_NCHW), list(nchw.TO_NHWC)


class Emitter:
    """State of one conversion: tensor names per IR value, nodes and initializers so far."""

    def __init__(self, graph: Graph, weights: WeightValues, opset: int, sink: "ExternalData | None" = None):
        self.graph, self.weights, self.opset, self.sink = graph, weights, opset, sink
        self.consume = False
        self.prelu_form: str | None = None     # every PReLU in this form (netc.backends.onnx.PRELU_FORMS)
        self.tensors, self.node_names = UniqueNames(), UniqueNames()  # ONNX keeps the two apart
        self.node_names.used.update(n.name for n in graph.nodes)
        self.names: dict[int, str] = {}
        self.nodes: list[bytes] = []                     # NodeProtos, encoded (netc.backends.onnx.wire)
        self.initializers: list[wire.Initializer] = []
        self.scalars: dict[float, str] = {}    # scalar initializers, shared by value
        self.attributes: dict[tuple, bytes] = {}   # each distinct set of attributes, serialized once

    # ------------------------------------------------------------- names, tensors
    def name(self, v: Value) -> str:
        return self.names[v.id]

    def xin(self, node: Node, i: int = 0) -> str:
        return self.names[node.inputs[i].id]

    def out(self, node: Node) -> str:
        if node.out.id not in self.names:
            self.names[node.out.id] = self.tensors.unique(node.out.name)
        return self.names[node.out.id]

    def init(self, base: str, array: np.ndarray, dtype: type = np.float32) -> str:
        """Add a float32 (or int64) initializer; returns its (unique) name."""
        name = self.tensors.unique(base)
        arr = np.asarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
        t = wire.Initializer(name, wire.INT64 if arr.dtype.kind == "i" else wire.FLOAT, tuple(arr.shape))
        self.initializers.append(t)
        if self.sink is not None and arr.dtype.kind == "f" and self.sink.add(t, arr):
            return name   # streamed as it is (a transposed view is written in slabs, never copied whole)
        if not arr.flags.c_contiguous:   # (ascontiguousarray would make scalars 1-D)
            arr = np.ascontiguousarray(arr)
        t.raw = memoryview(arr).cast("B") if arr.size else b""   # the array itself, not a copy
        return name

    def scalar(self, value: float) -> str:
        """A float32 scalar initializer, one per value for the whole graph."""
        key = float(np.float32(value))
        if key not in self.scalars:
            self.scalars[key] = self.init(f"const/{key:g}", np.array(key, np.float32))
        return self.scalars[key]

    def weight(self, node: Node, key: str) -> np.ndarray:
        w = node.weights[key]
        if w.name not in self.weights:
            raise NetcError(f"no value for weight `{w.name}`", node.origin.span)
        arr = np.asarray(self.weights.pop(w.name) if self.consume else self.weights[w.name])
        arr = arr.astype(np.float32, copy=False)
        if arr.shape != w.shape:
            raise NetcError(f"weight `{w.name}` has shape {arr.shape}, expected {w.shape}", node.origin.span)
        return arr

    def temp(self, node: Node, what: str) -> str:
        return self.tensors.unique(f"{node.name}/{what}")

    # ------------------------------------------------------------------- nodes
    def add(self, op: str, inputs: list[str], output: str, node: Node | None,
            suffix: str = "", **attrs: Any) -> None:
        """Append one ONNX node; the main node of an IR node takes its name, helpers a suffix."""
        if node is None:
            name, doc = self.node_names.unique(f"{output}/{op.lower()}"), ""
        else:
            name = node.name if not suffix else self.node_names.unique(f"{node.name}/{suffix}")
            doc = doc_string(node)
        blob = b""
        if attrs:
            key = tuple((k, type(v), tuple(v) if isinstance(v, list) else v) for k, v in sorted(attrs.items()))
            blob = self.attributes.get(key)
            if blob is None:
                blob = self.attributes[key] = wire.attributes(attrs)
        self.nodes.append(wire.node(op, name, inputs, [output], blob, doc))


def doc_string(node: Node) -> str:
    """``FILE:LINE:COL: BLOCK-TEXT`` of the spec block a node comes from."""
    o = node.origin
    return o.text if o.span is None else f"{o.span}: {o.text}"
