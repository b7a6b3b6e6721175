"""IR graph + weight values -> the source of a standalone PyTorch module (``model.py``) and its state dict.

The module is one ``nn.Module`` class whose submodules are named after the spec's stacks, blocks and layers
(``self.backbone.c3.expansion_conv``: the IR node names), built in ``__init__`` from stock ``torch.nn``
layers; ``forward()`` has one line per IR node, in the graph's order, with a comment at each spec block
pointing at its line. Each :class:`Prim` has one emitter in :data:`netc.backends.torch_emit.EMITTERS`. The
code is generated without importing torch, and every name taken from the spec is reduced to an identifier
(comments keep the block text with line breaks removed), so nothing of a spec is ever executed as code.
Same graph and weights: the same text and the same state dict.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import netc
from netc.diagnostics import NetcError
from netc.ir.graph import Graph, Node, Prim, Value
from netc.ir.weights import WeightValues

IO_LAYOUTS = ("nchw", "nhwc")

# attributes of torch.nn.Module (and Python words) a submodule or variable must not shadow
_RESERVED = set(keyword.kwlist) | {
    "self", "torch", "nn", "F", "math", "json", "pathlib", "training", "forward", "eval", "train", "to",
    "cuda", "cpu", "float", "double", "half", "bfloat16", "type", "apply", "children", "modules", "parameters",
    "buffers", "state_dict", "load_state_dict", "register_buffer", "register_parameter", "register_module",
    "add_module", "zero_grad", "extra_repr", "named_modules", "named_parameters", "named_children",
    "named_buffers", "requires_grad_", "share_memory", "get_submodule", "get_parameter", "get_buffer",
    "dump_patches", "call_super_init", "compile", "xpu", "ipu", "mtia", "set_extra_state", "get_extra_state",
    "max", "min", "sum", "input", "len", "range", "list", "tuple", "dict", "print", "id", "super", "object"}


def identifier(name: str) -> str:
    """A Python identifier for one segment of a spec name (``layer_4`` stays; ``2x`` -> ``x2x``)."""
    s = re.sub(r"\W", "_", name, flags=re.ASCII)
    if not s or s[0].isdigit() or s[0] == "_":
        s = f"x{s}"
    return f"{s}_" if s in _RESERVED else s


def literal(value: float) -> str:
    """A float literal that reads back as the same float32 number (0.0078125, -1.0, 0.01)."""
    f = float(np.float32(value))
    short = float(f"{f:.9g}")
    return repr(short if float(np.float32(short)) == f else f)


def comment(text: str) -> str:
    return re.sub(r"[\r\n\x0b\x0c\x85\u2028\u2029]+", " ", text).strip()


@dataclass
class TorchSource:
    """The torch backend's artifact: the module's source and its state dict (PyTorch layouts)."""

    code: str
    class_name: str
    state: dict[str, np.ndarray] = field(repr=False)
    io_layout: str = "nchw"
    inputs: list[tuple[str, tuple]] = field(default_factory=list)    # (argument name, shape as forward takes it)
    outputs: list[str] = field(default_factory=list)


class Emitter:
    """State of one conversion: submodules of ``__init__``, lines of ``forward``, the state dict so far."""

    def __init__(self, graph: Graph, weights: WeightValues):
        self.graph, self.weights = graph, weights
        self.init: list[str] = []
        self.body: list[str] = []
        self.state: dict[str, np.ndarray] = {}
        self.helpers: set[str] = set()        # helper definitions the module needs (torch_emit.HELPERS)
        self.containers: dict[tuple[str, ...], None] = {(): None}
        self.leaves: set[tuple[str, ...]] = set()
        self.vars: dict[int, str] = {}
        self.var_names: set[str] = set(_RESERVED)

    # ------------------------------------------------------------------ values
    def x(self, node: Node, i: int = 0) -> str:
        return self.vars[node.inputs[i].id]

    def xs(self, node: Node) -> list[str]:
        return [self.vars[v.id] for v in node.inputs]

    def new_var(self, v: Value, base: str) -> str:
        name, k = base, 2
        while name in self.var_names:
            name, k = f"{base}_{k}", k + 1
        self.var_names.add(name)
        self.vars[v.id] = name
        return name

    def assign(self, node: Node, expr: str) -> None:
        """``<var of node's output> = expr`` in forward()."""
        parts = [identifier(p) for p in node.name.split("/")]
        base = "_".join(parts[1:] if len(parts) > 1 else parts)
        self.body.append(f"{self.new_var(node.out, base)} = {expr}")

    def weight(self, node: Node, key: str) -> np.ndarray:
        w = node.weights[key]
        if w.name not in self.weights:
            raise NetcError(f"no value for weight `{w.name}`", node.origin.span)
        arr = np.asarray(self.weights[w.name], dtype=np.float32)
        if arr.shape != w.shape:
            raise NetcError(f"weight `{w.name}` has shape {arr.shape}, expected {w.shape}", node.origin.span)
        return arr

    # ------------------------------------------------------------------ submodules
    def module(self, node: Node, ctor: str, state: dict[str, np.ndarray] | None = None) -> str:
        """Add ``ctor`` (an ``nn`` layer expression) as the submodule named after ``node``; returns its
        attribute path (``self.backbone.c3.conv``). ``state``: its state-dict entries (PyTorch layouts)."""
        path = self._path(node.name)
        for i in range(1, len(path)):
            if path[:i] not in self.containers:
                self.containers[path[:i]] = None
                self.init.append(f"self.{'.'.join(path[:i])} = nn.Module()")
        self.leaves.add(path)
        attr = ".".join(path)
        self.init.append(f"self.{attr} = {ctor}")
        for key, arr in (state or {}).items():
            self.state[f"{attr}.{key}"] = np.array(arr, order="C")   # (ascontiguousarray makes 0-d 1-d)
        return f"self.{attr}"

    def _path(self, name: str) -> tuple[str, ...]:
        """Identifiers of the node name's segments, none of them both a layer and a group of layers."""
        path: list[str] = []
        for seg in name.split("/"):
            ident = identifier(seg)
            while tuple(path + [ident]) in self.leaves:
                ident += "_"
            path.append(ident)
        while tuple(path) in self.containers or tuple(path) in self.leaves:
            path[-1] += "_"
        return tuple(path)


def _arg_shape(v: Value, layout: str) -> tuple:
    if v.rank == 4 and layout == "nchw":
        n, h, w, c = v.shape
        return (n, c, h, w)
    return tuple(v.shape)


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join("N" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + ")"


def to_torch_source(graph: Graph, weights: WeightValues, *, io_layout: str = "nchw") -> TorchSource:
    """Emit ``graph`` as PyTorch source. The graph holds only primitives of the emitter table (the backend
    object runs its passes first)."""
    from netc.backends.torch_emit import EMITTERS, HELPERS
    if io_layout not in IO_LAYOUTS:
        raise NetcError(f"unknown io layout `{io_layout}` (expected one of {', '.join(IO_LAYOUTS)})")
    em = Emitter(graph, weights)
    args = []
    for v in graph.inputs:
        arg = em.new_var(v, identifier(v.name))
        args.append(arg)
        if io_layout == "nhwc" and v.rank == 4:
            em.body.append(f"{arg} = {arg}.permute(0, 3, 1, 2)  # NHWC -> NCHW")
    origin = None
    for node in graph.nodes:
        if node.prim is Prim.INPUT:
            continue
        fn = EMITTERS.get(node.prim)
        if fn is None:
            raise NetcError(f"the PyTorch backend cannot express {node.prim}", node.origin.span)
        where = (node.origin.span, node.origin.text)
        if where != origin:
            origin = where
            span = "" if node.origin.span is None else f"{node.origin.span}: "
            em.body.append(f"# {comment(span + node.origin.text)}")
        fn(em, node)
    results = []
    for name, v in graph.outputs:
        var = em.vars[v.id]
        results.append(f"{var}.permute(0, 2, 3, 1)" if io_layout == "nhwc" and v.rank == 4 else var)
    class_name = _class_name(graph.name)
    code = _render(em, graph, class_name, args, results, io_layout,
                   [h for h in HELPERS if h in em.helpers], HELPERS)
    return TorchSource(code, class_name, em.state, io_layout,
                       [(a, _arg_shape(v, io_layout)) for a, v in zip(args, graph.inputs)],
                       [name for name, _ in graph.outputs])


def _class_name(name: str) -> str:
    words = [w for w in re.split(r"\W|_", name, flags=re.ASCII) if w]
    s = "".join(w[:1].upper() + w[1:] for w in words) or "Net"
    return f"Net{s}" if s[0].isdigit() else s


def _render(em: Emitter, graph: Graph, class_name: str, args: list[str], results: list[str], io_layout: str,
            helpers: list[str], table: dict[str, str]) -> str:
    layout = "NCHW" if io_layout == "nchw" else "NHWC"
    ins = ", ".join(f"{a} {_fmt_shape(_arg_shape(v, io_layout))}" for a, v in zip(args, graph.inputs))
    outs = ", ".join(f"{n} {_fmt_shape(_arg_shape(v, io_layout))}" for n, v in graph.outputs)
    spans = {str(n.origin.span).rsplit(":", 2)[0] for n in graph.nodes if n.origin.span is not None}
    source = ", ".join(sorted(spans)) or "a spec"
    lines = [
        f'"""{class_name}: a PyTorch module generated by netc {netc.__version__} from {comment(source)}.',
        "",
        f"Inputs ({layout}, float32): {ins}.",
        f"Outputs ({layout}): {outs}.",
        "Weights: the .safetensors file beside this one (`build()` loads it). Imports only torch and the",
        "standard library; netc is not needed to run or train it.",
        '"""',
        "import json",
        "import pathlib",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
    ]
    for h in helpers:
        lines += ["", *table[h].strip("\n").split("\n"), ""]
    lines += ["", f"class {class_name}(nn.Module):",
              f'    """{comment(graph.name)}: submodules named after the spec\'s stacks, blocks and layers."""',
              "", "    def __init__(self):", "        super().__init__()"]
    lines += [f"        {s}" for s in em.init]
    sig = ", ".join(["self", *args])
    lines += ["", f"    def forward({sig}):"]
    lines += [f"        {s}" for s in em.body]
    lines.append(f"        return {results[0] if len(results) == 1 else ', '.join(results)}")
    lines += ["", "", *_LOADER.strip("\n").split("\n"), ""]
    lines += ["", "def build(weights=None):",
              f'    """{class_name} with the weights of `weights` (default: the .safetensors file beside this one)."""',
              f"    model = {class_name}()",
              "    path = pathlib.Path(weights) if weights else pathlib.Path(__file__).with_suffix(\".safetensors\")",
              "    model.load_state_dict(load_safetensors(path))",
              "    return model", "", ""]
    example = ", ".join(
        "torch.zeros(" + ", ".join(str(224 if d is None else d) for d in (2, *_arg_shape(v, io_layout)[1:])) + ")"
        for v in graph.inputs)
    lines += ['if __name__ == "__main__":   # a smoke test: python model.py',
              "    model = build().eval()",
              "    with torch.no_grad():",
              f"        outputs = model({example})",
              "    outputs = outputs if isinstance(outputs, tuple) else (outputs,)",
              "    print(*(tuple(o.shape) for o in outputs))"]
    return "\n".join(lines) + "\n"


_LOADER = '''
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "I64": torch.int64}


def load_safetensors(path):
    """The tensors of a .safetensors file (8-byte little-endian header size, JSON header, raw data)."""
    data = pathlib.Path(path).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    body = bytearray(data[8 + size:])
    tensors = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        flat = torch.frombuffer(body, dtype=dtype, count=(end - start) // dtype.itemsize, offset=start) \\
            if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors
'''


def describe(src: TorchSource) -> dict[str, Any]:
    """The artifact's inputs and outputs, for messages and the check runner."""
    return {"class": src.class_name, "inputs": src.inputs, "outputs": src.outputs, "io_layout": src.io_layout}
