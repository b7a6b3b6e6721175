"""A Triton Inference Server model repository for an ONNX artifact: ``repo/<model>/config.pbtxt`` and
``repo/<model>/1/model.onnx``, served by Triton's onnxruntime backend.

The config is written as protobuf text (Triton's ``inference.ModelConfig``) from the ModelProto's graph
inputs and outputs, so it fits any rank, layout and dtype the artifact has. A leading symbolic dimension is
the batch: ``max_batch_size`` > 0, dims without it, dynamic batching on. Other symbolic dims are -1.
"""
from __future__ import annotations

import os

from netc.diagnostics import NetcError

# onnx.TensorProto.DataType -> Triton's DataType
_TRITON_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16",
                 6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
                 12: "TYPE_UINT32", 13: "TYPE_UINT64", 16: "TYPE_BF16"}
DEFAULT_MAX_BATCH = 8


def _tensors(values, inits: set[str]) -> list[tuple[str, str, list]]:
    out = []
    for v in values:
        if v.name in inits:
            continue
        tt = v.type.tensor_type
        if tt.elem_type not in _TRITON_TYPES:
            raise NetcError(f"tensor `{v.name}` has an ONNX element type ({tt.elem_type}) Triton cannot serve")
        out.append((v.name, _TRITON_TYPES[tt.elem_type], [d.dim_value if d.dim_value else None for d in tt.shape.dim]))
    return out


def _batched(tensors: list[tuple[str, str, list]]) -> bool:
    return all(dims and dims[0] is None for _, _, dims in tensors)


def config_pbtxt(proto, name: str, max_batch_size: int = DEFAULT_MAX_BATCH) -> str:
    """The ``config.pbtxt`` text for serving ``proto`` as model ``name``."""
    inits = {i.name for i in proto.graph.initializer}
    ins, outs = _tensors(proto.graph.input, inits), _tensors(proto.graph.output, set())
    batched = max_batch_size > 0 and _batched(ins + outs)

    def block(kind: str, tensors) -> list[str]:
        lines = [f"{kind} ["]
        for i, (n, t, dims) in enumerate(tensors):
            shown = dims[1:] if batched else dims
            dim_text = ", ".join(str(-1 if d is None else d) for d in shown)
            lines += ["  {", f'    name: "{n}"', f"    data_type: {t}", f"    dims: [ {dim_text} ]",
                      "  }" + ("," if i < len(tensors) - 1 else "")]
        return lines + ["]"]

    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"', f"max_batch_size: {max_batch_size if batched else 0}"]
    lines += block("input", ins) + block("output", outs)
    if batched:
        lines += ["dynamic_batching { }"]
    return "\n".join(lines) + "\n"


def write_repository(proto, repo: str, name: str, max_batch_size: int = DEFAULT_MAX_BATCH) -> str:
    """Write ``repo/<name>/1/model.onnx`` and ``repo/<name>/config.pbtxt``; returns the model directory.
    Version 1 and the config are replaced atomically; other versions in the directory are kept."""
    from netc.backends.onnx import save_onnx
    from netc.deploy.layout import TRITON_VERSION, check_layout, write_dir, write_text
    check_layout(repo, "triton")
    text = config_pbtxt(proto, name, max_batch_size)
    model_dir = os.path.join(repo, name)
    write_dir(os.path.join(model_dir, "1"), lambda tmp: save_onnx(proto, os.path.join(tmp, "model.onnx")),
              TRITON_VERSION)
    write_text(os.path.join(model_dir, "config.pbtxt"), text)
    return model_dir
