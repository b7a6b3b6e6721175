"""The state of one IR -> PyTorch conversion (:class:`Emitter`), shared by the emitter table
(:mod:`netc.backends.torch_emit`) and the source renderer (:mod:`netc.backends.torch_code`): submodules of
``__init__``, lines of ``forward``, the state dict, and the rules that turn spec names and numbers into
identifiers and literals (nothing of a spec becomes code)."""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import numpy as np

from netc.diagnostics import NetcError
from netc.ir.graph import Graph, Node, Value
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
        self.folded_pads: dict[int, tuple[int, int]] = {}   # value id of a pad folded into its convs' padding=
        self._readers: dict[int, list[Node]] | None = None

    def readers(self, v: Value) -> list[Node]:
        """The nodes that read ``v`` (none when it is also a graph output: it must then exist as a variable)."""
        if self._readers is None:
            self._readers = {}
            for n in self.graph.nodes:
                for u in n.inputs:
                    self._readers.setdefault(u.id, []).append(n)
            for _, out in self.graph.outputs:
                self._readers[out.id] = []
        return self._readers.get(v.id, [])

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
