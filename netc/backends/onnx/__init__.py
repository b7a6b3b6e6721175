"""ONNX backend: IR graph + weight values -> an ONNX model (NCHW inside; no TensorFlow, and no onnx package:
the protobuf messages are encoded by :mod:`.wire`; ``to_onnx`` parses them into an ``onnx.ModelProto``).

Each :class:`Prim` the backend emits has one function in :data:`EMITTERS` (:mod:`.ops`); what it lacks
(swish; hard-swish below opset 14) is decomposed by :mod:`netc.ir.decompose`, and BN folding runs as an IR
pass before emission (:data:`netc.backends.ONNX`). Tensors keep the IR value names, nodes the IR node names,
initializers the checkpoint weight names; the output is byte-identical for identical inputs.

Modules: :mod:`.emit` (the state of one conversion), :mod:`.ops` (the op table), :mod:`.prelu` (PReLU's
forms), :mod:`.layout` (graph inputs and outputs), :mod:`.model` (:func:`encode_onnx`, :func:`to_onnx`), :mod:`.wire` (the
protobuf encoding), :mod:`.protobuf` (the streaming writer of a ModelProto made elsewhere), :mod:`.external` (external data), :mod:`.save` (files).
"""
from __future__ import annotations

from netc.backends.onnx.emit import Emitter, doc_string
from netc.backends.onnx.external import EXTERNAL_AUTO_BYTES, ExternalData, needs_external_data
from netc.backends.onnx.layout import IO_LAYOUTS
from netc.backends.onnx.model import MAX_OPSET, MIN_OPSET, check_options, encode_onnx, to_onnx
from netc.backends.onnx.ops import EMITTERS, EmitFn, emitted_prims
from netc.backends.onnx.prelu import PRELU_FORMS, prelu_form
from netc.backends.onnx.save import save_onnx, write_onnx
from netc.backends.onnx.wire import EncodedModel

__all__ = ["EMITTERS", "EXTERNAL_AUTO_BYTES", "IO_LAYOUTS", "MAX_OPSET", "MIN_OPSET", "EncodedModel", "encode_onnx", "PRELU_FORMS", "EmitFn", "Emitter",
           "ExternalData", "check_options", "doc_string", "emitted_prims", "needs_external_data", "prelu_form",
           "save_onnx", "to_onnx", "write_onnx"]
