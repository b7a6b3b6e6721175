"""Writing a ModelProto field by field, one initializer at a time, with the bytes ``SerializeToString`` gives."""
from __future__ import annotations

from typing import Any

from netc.backends.onnx.wire import length_prefix as _len_prefix, varint as _varint


def _split_fields(msg: Any, number: int) -> tuple[bytes, bytes]:
    """``msg`` without field ``number``, serialized as its fields before it and its fields after it."""
    lo, hi = type(msg)(), type(msg)()
    for fd, value in msg.ListFields():
        if fd.number == number:
            continue
        part = lo if fd.number < number else hi
        if fd.is_repeated:
            getattr(part, fd.name).extend(value)
        elif fd.message_type is not None:
            getattr(part, fd.name).CopyFrom(value)
        else:
            setattr(part, fd.name, value)
    return lo.SerializeToString(), hi.SerializeToString()


def write_model(model: Any, f: Any) -> None:
    """Write ``model.SerializeToString()`` to ``f`` in pieces, one initializer at a time, so that the
    model is never copied whole into memory (twice, inside protobuf). Protobuf writes fields in number
    order, and so does this: the bytes are the same."""
    graph = model.graph
    head, tail = _split_fields(model, model.DESCRIPTOR.fields_by_name["graph"].number)
    g_head, g_tail = _split_fields(graph, graph.DESCRIPTOR.fields_by_name["initializer"].number)
    number = graph.DESCRIPTOR.fields_by_name["initializer"].number
    sizes = [t.ByteSize() for t in graph.initializer]
    size = len(g_head) + len(g_tail) + sum(len(_len_prefix(number, n)) + n for n in sizes)
    f.write(head)
    f.write(_len_prefix(model.DESCRIPTOR.fields_by_name["graph"].number, size))
    f.write(g_head)
    tag = _varint(number << 3 | 2)
    for t, n in zip(graph.initializer, sizes):
        f.writelines((tag, _varint(n), t.SerializeToString()))
    f.write(g_tail)
    f.write(tail)
