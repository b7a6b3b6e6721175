"""IR graph + weight values -> an ONNX model: options checked, inputs wired, every node emitted."""
from __future__ import annotations

from typing import Any

import netc
from netc.backends.onnx.emit import Emitter
from netc.backends.onnx.external import ExternalData
from netc.backends.onnx.layout import IO_LAYOUTS, name_values, reserve_outputs, wire_inputs, wire_outputs
from netc.backends.onnx.ops import EMITTERS, emitted_prims
from netc.backends.onnx.prelu import PRELU_FORMS
from netc.backends.onnx.wire import EncodedModel
from netc.diagnostics import NetcError
from netc.ir.graph import Graph
from netc.ir.weights import WeightValues

MIN_OPSET = 11
#: The IR version each default-domain opset needs (``onnx.helper.find_min_ir_version_for``, onnx 1.23.2), up to
#: the newest opset of the pinned onnx (``onnx.defs.onnx_opset_version()``); tests/test_onnx_wire.py checks both
#: against the installed onnx.
IR_VERSION = {11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 12,
              25: 13, 26: 13, 27: 13, 28: 14}
MAX_OPSET = max(IR_VERSION)


def check_options(opset: int, io_layout: str, prelu_form: str | None = None) -> None:
    top = MAX_OPSET
    if not MIN_OPSET <= opset <= top:
        raise NetcError(f"ONNX opset {opset} is not supported (netc emits opsets {MIN_OPSET} to {top})")
    if io_layout not in IO_LAYOUTS:
        raise NetcError(f"unknown io layout `{io_layout}` (expected one of {', '.join(IO_LAYOUTS)})")
    if prelu_form is not None and prelu_form not in PRELU_FORMS:
        raise NetcError(f"unknown PReLU form `{prelu_form}` (expected one of {', '.join(PRELU_FORMS)})")


def to_onnx(graph: Graph, weights: WeightValues, *, opset: int = 17, io_layout: str = "nchw",
            sink: ExternalData | None = None, consume: bool = False,
            prelu_form: str | None = None) -> Any:
    """The ``onnx.ModelProto`` of :func:`encode_onnx` (imports onnx to parse it)."""
    return encode_onnx(graph, weights, opset=opset, io_layout=io_layout, sink=sink, consume=consume,
                       prelu_form=prelu_form).proto()


def encode_onnx(graph: Graph, weights: WeightValues, *, opset: int = 17, io_layout: str = "nchw",
                sink: ExternalData | None = None, consume: bool = False,
                prelu_form: str | None = None) -> EncodedModel:
    """Emit ``graph`` with weight values ``weights`` (IR layout) as an ONNX model, node for node, encoded
    without the onnx package (netc.backends.onnx.wire).

    Inside, image tensors are NCHW; with ``io_layout="nhwc"`` a Transpose follows each image input and
    precedes each image output. The graph must hold only primitives of :func:`emitted_prims` (the
    backend object :data:`netc.backends.ONNX` runs the folding and decomposition passes first). With a
    ``sink``, initializers of 1 KiB and more go to its file as they are made (ONNX external data, see
    :func:`write_onnx`) and the model only refers to them. ``prelu_form`` (one of
    :data:`netc.backends.onnx.PRELU_FORMS`) writes every PReLU in that form instead of the one
    :func:`netc.backends.onnx.prelu_form` chooses (the PReLU tests and benchmark).
    """
    check_options(opset, io_layout, prelu_form)
    supported = emitted_prims(opset)
    for node in graph.nodes:
        if node.prim not in supported:
            raise NetcError(f"the ONNX backend cannot express {node.prim}", node.origin.span)
    em = Emitter(graph, weights, opset, sink)
    em.prelu_form = prelu_form
    em.consume = consume   # the caller's own dict: each array is let go once it is in the model (peak memory)
    inputs = wire_inputs(em, graph, io_layout)
    reserve_outputs(em, graph, io_layout)
    name_values(em, graph)
    for node in graph.nodes:
        EMITTERS[node.prim](em, node)
    outputs = wire_outputs(em, graph, io_layout)
    return EncodedModel(IR_VERSION[opset], opset, ("netc", netc.__version__), graph.name, em.nodes,
                        em.initializers, inputs, outputs)
