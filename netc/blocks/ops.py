"""Ops: `cnct:`, `mul:`, `up_x2:` (NOTATION.md section 4)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY


@REGISTRY.op("cnct", "concatenate on channels", min_inputs=2)
def concat(b: Builder, xs: list[Value], names: list[str]) -> Value:
    return b.concat(xs, name="concat", names=names)


@REGISTRY.op("mul", "element-wise multiply of two tensors (broadcasting)", min_inputs=2, max_inputs=2)
def multiply(b: Builder, xs: list[Value], names: list[str]) -> Value:
    return b.mul(xs[0], xs[1], name="mul", a_name=names[0], b_name=names[1])


@REGISTRY.op("up_x2", "bilinear resize to 2H x 2W (half-pixel centres)", min_inputs=1, max_inputs=1)
def upscale_x2(b: Builder, xs: list[Value], names: list[str]) -> Value:
    return b.resize(xs[0], 2, "bilinear", name="resize")


@REGISTRY.op("add", "element-wise sum of two or more tensors (broadcasting)", min_inputs=2)
def add(b: Builder, xs: list[Value], names: list[str]) -> Value:
    return b.add_n(xs, name="add", names=names)


@REGISTRY.op("id", "the tensor unchanged (no layer): label it to name the current tensor, e.g. a template's "
             "input", min_inputs=1, max_inputs=1)
def identity(b: Builder, xs: list[Value], names: list[str]) -> Value:
    return xs[0]
