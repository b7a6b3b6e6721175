"""The ONNX messages netc writes, encoded in the protobuf wire format without importing ``onnx``.

`netc build -o model.onnx` never needs the onnx package: importing it (protobuf, its C extension, its op
schemas) costs more than the rest of a build. The few message kinds the ONNX backend emits are written here,
field by field in field-number order as protobuf serializes them, so the bytes are those that
``onnx.ModelProto.SerializeToString()`` gives for the same message (tests/test_onnx_wire.py parses and
re-serializes every kind with onnx). Field numbers are those of onnx/onnx.proto (proto2: repeated scalars
are written unpacked, one tag per element; a set optional field is written even when empty).

:class:`EncodedModel` holds a model as byte pieces (each initializer separate, so a large model is written
to its file piece by piece, never joined in memory); ``.proto()`` parses it with onnx for the library API.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Sequence

# TensorProto.DataType and AttributeProto.AttributeType values (onnx.proto)
FLOAT, INT64 = 1, 7
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_FLOATS, ATTR_INTS = 1, 2, 3, 6, 7
EXTERNAL = 1   # TensorProto.DataLocation


def varint(n: int) -> bytes:
    """Base-128 varint; a negative int64 as its 10-byte two's complement, as protobuf writes it."""
    if n < 0:
        n += 1 << 64
    if n <= 0x7F:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_prefix(number: int, size: int) -> bytes:
    """Tag and length of a length-delimited field (the payload follows)."""
    return key(number, 2) + varint(size)


def blob(number: int, payload: bytes) -> bytes:
    return length_prefix(number, len(payload)) + payload


def string(number: int, text: str) -> bytes:
    return blob(number, text.encode("utf-8"))


def integer(number: int, value: int) -> bytes:
    return key(number, 0) + varint(int(value))


def float32(number: int, value: float) -> bytes:
    return key(number, 5) + struct.pack("<f", value)


def attribute(name: str, value: Any) -> bytes:
    """AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20."""
    head = string(1, name)
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, str, list, tuple)):
        raise TypeError(f"attribute {name}: no ONNX encoding for {value!r}")
    if isinstance(value, int):
        return head + integer(3, value) + integer(20, ATTR_INT)
    if isinstance(value, float):
        return head + float32(2, value) + integer(20, ATTR_FLOAT)
    if isinstance(value, str):
        return head + string(4, value) + integer(20, ATTR_STRING)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return head + b"".join(integer(8, v) for v in value) + integer(20, ATTR_INTS)
    if all(isinstance(v, float) for v in value):
        return head + b"".join(float32(7, v) for v in value) + integer(20, ATTR_FLOATS)
    raise TypeError(f"attribute {name}: no ONNX encoding for {value!r}")


def _plain(value: Any) -> Any:
    """numpy scalars (and lists of them) as Python ints and floats."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def node(op_type: str, name: str, inputs: Sequence[str], outputs: Sequence[str], attributes: bytes = b"",
         doc: str = "") -> bytes:
    """NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 (``attributes``: encoded fields), doc 6."""
    return (b"".join(string(1, i) for i in inputs) + b"".join(string(2, o) for o in outputs)
            + string(3, name) + string(4, op_type) + attributes + (string(6, doc) if doc else b""))


def attributes(attrs: dict[str, Any]) -> bytes:
    """The attribute fields (NodeProto field 5) of ``attrs``, sorted by name."""
    return b"".join(blob(5, attribute(k, attrs[k])) for k in sorted(attrs))


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto {name 1, type 2: TypeProto {tensor_type 1: {elem_type 1, shape 2: {dim 1: {value 1 |
    param 2}}}}}: an int is a fixed dimension, a str a symbolic one."""
    shape = b"".join(blob(1, string(2, d) if isinstance(d, str) else integer(1, d)) for d in dims)
    tensor_type = integer(1, elem_type) + blob(2, shape)
    return string(1, name) + blob(2, blob(1, tensor_type))


@dataclass
class Initializer:
    """A TensorProto: dims 1, data_type 2, name 8, raw_data 9, or external_data 13 + data_location 14."""

    name: str
    data_type: int
    dims: tuple[int, ...]
    raw: bytes | memoryview | None = None
    external: list[tuple[str, str]] = field(default_factory=list)

    def _head(self) -> bytes:
        return b"".join(integer(1, d) for d in self.dims) + integer(2, self.data_type) + string(8, self.name)

    def pieces(self) -> list[bytes | memoryview]:
        """The encoded tensor; the raw data as it is held (a view, not a copy)."""
        if self.external:
            entries = b"".join(blob(13, string(1, k) + string(2, v)) for k, v in self.external)
            return [self._head() + entries + integer(14, EXTERNAL)]
        raw = memoryview(self.raw if self.raw is not None else b"").cast("B")
        return [self._head() + length_prefix(9, raw.nbytes), raw]


@dataclass
class EncodedModel:
    """A ModelProto as pieces: ir_version 1, producer name 2 and version 3, graph 7 {node 1, name 2,
    initializer 5, input 11, output 12}, opset_import 8 ({domain 1, version 2})."""

    ir_version: int
    opset: int
    producer: tuple[str, str]
    graph_name: str
    nodes: list[bytes]
    initializers: list[Initializer]
    inputs: list[bytes]
    outputs: list[bytes]

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The serialized model, piece by piece (an initializer's data as the view it is held in)."""
        inits = [t.pieces() for t in self.initializers]
        sizes = [sum(len(p) for p in t) for t in inits]
        g_head = b"".join(blob(1, n) for n in self.nodes) + string(2, self.graph_name)
        g_tail = b"".join(blob(11, v) for v in self.inputs) + b"".join(blob(12, v) for v in self.outputs)
        size = len(g_head) + len(g_tail) + sum(len(length_prefix(5, n)) + n for n in sizes)
        yield integer(1, self.ir_version) + string(2, self.producer[0]) + string(3, self.producer[1])
        yield length_prefix(7, size) + g_head
        for t, n in zip(inits, sizes):
            yield length_prefix(5, n)
            yield from t
        yield g_tail
        yield blob(8, string(1, "") + integer(2, self.opset))

    def write(self, f: IO[bytes]) -> None:
        for piece in self.pieces():
            f.write(piece)

    def serialized(self) -> bytes:
        return b"".join(self.pieces())   # join takes the initializers' views as they are (one copy)

    def proto(self) -> Any:
        """The model as an ``onnx.ModelProto`` (imports onnx)."""
        import onnx
        return onnx.ModelProto.FromString(self.serialized())
