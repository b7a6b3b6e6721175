"""Backends: one interface, one object each. ``cli``, ``compiler`` and ``check`` iterate over
:data:`BACKENDS` instead of naming formats.

A backend declares the file suffixes it writes, the primitives it emits (its table), the IR passes it
wants before emitting (always, and with ``--deploy``), the options it takes, what it requires (an optional
dependency and the extra that installs it), how its output path is checked before anything is compiled,
and the columns `netc check` runs of its artifact (:meth:`Backend.check_routes`). Primitives outside its
table are decomposed (:mod:`netc.ir.decompose`) before emission. Heavy libraries load only when a backend
emits, saves or runs, so importing this package stays cheap.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netc.diagnostics import NetcError
from netc.ir.decompose import RULES, decomposer
from netc.ir.graph import Graph, Prim
from netc.ir.prims import DEFS
from netc.ir.passes import DEPLOY, Pass, fold_batchnorm, run_passes, strip_inference_identities
from netc.ir.weights import WeightValues

if TYPE_CHECKING:  # pragma: no cover
    from netc.backends.routes import CheckContext, Route


@dataclass(frozen=True)
class Requirement:
    """An optional dependency: the modules a backend imports and the extra that installs them."""

    modules: tuple[str, ...]
    extra: str

    def missing(self) -> str | None:
        """The first module that cannot be imported (found without importing it), or None."""
        from importlib.util import find_spec
        for name in self.modules:
            try:
                if find_spec(name) is None:
                    return name
            except (ImportError, ValueError):
                return name
        return None

    def require(self, purpose: str) -> None:
        """Import the modules, or raise a NetcError saying what to install for ``purpose``."""
        from netc.optional import require_modules
        require_modules(self.modules, self.extra, purpose)


TENSORFLOW = Requirement(("tensorflow", "keras"), "tf")
TF2ONNX = Requirement(("tensorflow", "keras", "tf2onnx"), "tf")
TORCH = Requirement(("torch",), "torch")


#: Primitives only decompositions make: a backend lacking them never receives them unless its table lacks what
#: they are made from (tests/test_prims.py checks each backend's closure).
LOWERING_ONLY = frozenset(p for p, d in DEFS.items() if d.lowering_only)


@dataclass
class Backend:
    """A target format. Subclasses implement :meth:`prims`, :meth:`emit` and :meth:`save`."""

    name: str
    description: str
    suffixes: tuple[str, ...] = ()
    directory: bool = False              # writes a directory (a path without a known suffix)
    passes: tuple[Pass, ...] = ()        # always, before emitting
    deploy_passes: tuple[Pass, ...] = DEPLOY
    options: tuple[str, ...] = field(default=())   # emit options it understands
    requires: Requirement | None = None  # an optional dependency (None: netc's own dependencies suffice)
    route_of: str | None = None          # another way to write that backend's format, chosen by `--via NAME`
    versions_of: tuple[str, ...] = ()    # modules whose versions `check` reports when it runs this backend
    suffix_reason: str | None = None     # set: the output must end in suffixes[0], for this reason
    io_layout: str = "nchw"              # its images' layout where it takes no `io_layout` option

    def prims(self, **options: Any) -> frozenset[Prim]:  # pragma: no cover - abstract
        raise NotImplementedError

    def emit(self, graph: Graph, weights: WeightValues, **options: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def save(self, artifact: Any, path: str) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ requirements and targets
    def require(self, purpose: str | None = None) -> None:
        """A NetcError naming the extra to install when this backend's optional dependency is missing."""
        if self.requires is not None:
            self.requires.require(purpose or f"the {self.name} backend ({self.description})")

    def available(self) -> bool:
        return self.requires is None or self.requires.missing() is None

    def check_target(self, path: str) -> str:
        """The absolute output path, or a NetcError when this backend cannot write ``path`` (checked before
        compiling anything)."""
        from netc.atomic import check_target
        if self.suffix_reason and not path.lower().endswith(self.suffixes):
            stem = os.path.splitext(path)[0] or "model"
            raise NetcError(f"a {self.description} is a `{self.suffixes[0]}` file ({self.suffix_reason}): write "
                            f"`-o {stem}{self.suffixes[0]}`, or choose another `--format`")
        return check_target(path, directory=self.directory)

    # ------------------------------------------------------------------ check
    def check_routes(self, ctx: "CheckContext") -> list["Route"]:
        """The columns `netc check` runs of this backend's artifact (none by default)."""
        return []

    # ------------------------------------------------------------------ lowering and writing
    def lowering_passes(self, *, deploy: bool = False, **options: Any) -> list[Pass]:
        """The passes that turn the compiled IR into what :meth:`emit` takes."""
        passes = list(self.deploy_passes if deploy else self.passes)
        lacking = frozenset(Prim) - self.prims(**options) - {Prim.INPUT} - LOWERING_ONLY
        if lacking:   # first, so that a BN after a decomposed separable conv folds into its pointwise conv
            passes.insert(0, decomposer(frozenset(lacking)))
        return passes

    def lower(self, graph: Graph, weights: WeightValues, *, deploy: bool = False,
              **options: Any) -> tuple[Graph, WeightValues]:
        """The graph and weights :meth:`emit` takes: this backend's passes applied."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise NetcError(f"the {self.name} backend takes no option {', '.join(sorted(unknown))}")
        return run_passes(graph, dict(weights), self.lowering_passes(deploy=deploy, **options))

    def build(self, graph: Graph, weights: WeightValues, *, deploy: bool = False, **options: Any) -> Any:
        """Run this backend's passes, then emit."""
        graph, weights = self.lower(graph, weights, deploy=deploy, **options)
        return self.emit(graph, weights, **options)

    def write(self, graph: Graph, weights: WeightValues, path: str, *, deploy: bool = False,
              **options: Any) -> Any:
        """Run the passes, emit and save ``path`` (a backend may stream while it emits); returns the artifact."""
        graph, weights = self.lower(graph, weights, deploy=deploy, **options)
        artifact = self.emit(graph, weights, **options)
        self.save(artifact, path)
        return artifact

    def claims(self, path: str) -> bool:
        """Whether ``path``'s suffix names this backend (a route of another backend never claims a path)."""
        return self.route_of is None and bool(self.suffixes) and path.lower().endswith(self.suffixes)


class OnnxBackend(Backend):
    def prims(self, opset: int = 17, **_: Any) -> frozenset[Prim]:
        from netc.backends.onnx import emitted_prims
        return emitted_prims(opset)

    def emit(self, graph: Graph, weights: WeightValues, opset: int = 17, io_layout: str = "nchw",
             external_data: bool | None = None, prelu_form: str | None = None) -> Any:
        from netc.backends.onnx import to_onnx
        return to_onnx(graph, weights, opset=opset, io_layout=io_layout, consume=True, prelu_form=prelu_form)

    def write(self, graph: Graph, weights: WeightValues, path: str, *, deploy: bool = False,
              external_data: bool | None = None, **options: Any) -> Any:
        """ONNX streams initializers into ``<path>.data`` while it emits when ``external_data`` (None: only
        past protobuf's 2 GiB)."""
        from netc.backends.onnx import write_onnx
        graph, weights = self.lower(graph, weights, deploy=deploy, **options)
        return write_onnx(graph, weights, path, external_data=external_data, consume=True, **options)

    def save(self, artifact: Any, path: str) -> None:
        from netc.backends.onnx import save_onnx
        save_onnx(artifact, path)

    def check_routes(self, ctx: "CheckContext") -> list["Route"]:
        from netc.backends.routes import onnx_routes
        return onnx_routes(ctx)


class KerasBackend(Backend):
    def prims(self, **_: Any) -> frozenset[Prim]:
        from netc.backends.keras_backend import LAYERS
        return frozenset(LAYERS) | {Prim.INPUT}

    def emit(self, graph: Graph, weights: WeightValues) -> Any:
        from netc.backends.keras_backend import to_keras
        return to_keras(graph, weights)

    def save(self, artifact: Any, path: str) -> None:
        from netc.backends.keras_backend import export_savedmodel, save_keras
        if self.directory:
            export_savedmodel(artifact, path)
        else:
            save_keras(artifact, path)

    def check_routes(self, ctx: "CheckContext") -> list["Route"]:
        from netc.backends.routes import keras_routes
        return keras_routes(self, ctx)


class Tf2onnxBackend(KerasBackend):
    """Keras model -> ONNX through tf2onnx (``--via tf2onnx``): the Keras backend's passes, then tf2onnx."""

    def emit(self, graph: Graph, weights: WeightValues, opset: int = 17) -> Any:
        from netc.backends.keras_backend import to_keras
        from netc.backends.tf2onnx_route import keras_to_onnx
        return keras_to_onnx(to_keras(graph, weights), opset=opset)

    def save(self, artifact: Any, path: str) -> None:
        from netc.backends.onnx import save_onnx
        save_onnx(artifact, path)

    def check_routes(self, ctx: "CheckContext") -> list["Route"]:
        from netc.backends.routes import tf2onnx_routes
        return tf2onnx_routes(ctx)


class TorchBackend(Backend):
    """A readable PyTorch module (``model.py`` + ``model.safetensors``) or a torch.export program (``.pt2``)."""

    def prims(self, **_: Any) -> frozenset[Prim]:
        from netc.backends.torch_emit import EMITTERS
        return frozenset(EMITTERS)

    def emit(self, graph: Graph, weights: WeightValues, io_layout: str = "nchw") -> Any:
        from netc.backends.torch_code import to_torch_source
        return to_torch_source(graph, weights, io_layout=io_layout)

    def save(self, artifact: Any, path: str) -> None:
        from netc.backends.torch_backend import save_torch
        save_torch(artifact, path, exported=self.name == "torch-export")

    def check_target(self, path: str) -> str:
        from netc.backends.torch_backend import check_torch_target
        return check_torch_target(super().check_target(path))

    def check_routes(self, ctx: "CheckContext") -> list["Route"]:
        from netc.backends.torch_backend import torch_routes
        return torch_routes(self, ctx)


ONNX = OnnxBackend("onnx", "ONNX model (direct emitter, no TensorFlow)", suffixes=(".onnx",),
                   passes=(strip_inference_identities, fold_batchnorm),
                   options=("opset", "io_layout", "external_data", "prelu_form"), versions_of=("onnx", "onnxruntime"))
KERAS = KerasBackend("keras", "native Keras model", suffixes=(".keras",), requires=TENSORFLOW,
                     versions_of=("tensorflow", "keras"), suffix_reason="Keras refuses other names")
SAVEDMODEL = KerasBackend("savedmodel", "TensorFlow SavedModel directory (from the Keras model)", directory=True,
                          requires=TENSORFLOW, versions_of=("tensorflow", "keras"))
TF2ONNX_ROUTE = Tf2onnxBackend("tf2onnx", "ONNX model through Keras and tf2onnx", suffixes=(".onnx",),
                               options=("opset",), requires=TF2ONNX, route_of="onnx",
                               versions_of=("tf2onnx",), io_layout="nhwc")
TORCH_MODULE = TorchBackend("torch", "PyTorch module (model.py importing only torch, + model.safetensors)",
                            suffixes=(".py",), options=("io_layout",), requires=TORCH, versions_of=("torch",),
                            suffix_reason="Python imports only `.py` files")
TORCH_EXPORT = TorchBackend("torch-export", "PyTorch ExportedProgram (torch.export.save)", suffixes=(".pt2",),
                            options=("io_layout",), requires=TORCH, versions_of=("torch",))

BACKENDS: dict[str, Backend] = {b.name: b for b in (ONNX, KERAS, SAVEDMODEL, TF2ONNX_ROUTE, TORCH_MODULE,
                                                    TORCH_EXPORT)}
#: the backend `netc check` compares every other column against (with its float64 twin for the tolerance)
REFERENCE = "keras"


_FILE_SUFFIXES = {".h5", ".hdf5", ".npz", ".npy", ".pb", ".tflite", ".bin", ".pt", ".pth", ".json", ".yaml",
                  ".yml", ".net", ".txt", ".zip", ".tar", ".gz", ".safetensors"}


def backend_for(path: str, name: str | None = None) -> Backend:
    """The backend named ``name``, or the one whose suffix ``path`` has (a directory: SavedModel)."""
    if name is not None:
        if name not in BACKENDS:
            raise NetcError(f"unknown format `{name}`; choose one of {', '.join(BACKENDS)}")
        return BACKENDS[name]
    for b in BACKENDS.values():
        if b.claims(path):
            return b
    _, ext = os.path.splitext(path)
    if ext.lower() in _FILE_SUFFIXES:
        known = ", ".join(s for b in BACKENDS.values() if b.route_of is None for s in b.suffixes)
        raise NetcError(f"cannot tell the format of `{path}`: use a file ending in {known}, a directory for a "
                        f"SavedModel, or `--format`")
    return next(b for b in BACKENDS.values() if b.directory)


def route(backend: Backend, via: str | None) -> Backend:
    """``backend`` itself (``via`` None or "direct"), or the backend ``via`` names, which must be a route to
    ``backend``'s format (``--via tf2onnx`` for an ONNX output)."""
    if via in (None, "direct"):
        return backend
    alt = via_backend(via)
    if alt.route_of != backend.name:
        target = BACKENDS[alt.route_of]
        raise NetcError(f"`--via {via}` produces {target.name}: give a `{target.suffixes[0]}` output")
    return alt


def via_backend(via: str) -> Backend:
    """The backend ``--via`` names: one that is a route to another backend's format."""
    alt = BACKENDS.get(via)
    if alt is None or alt.route_of is None:
        routes = ", ".join(["direct"] + [b.name for b in BACKENDS.values() if b.route_of])
        raise NetcError(f"unknown route `{via}`; choose one of {routes}")
    return alt


def decomposable(prims: frozenset[Prim]) -> bool:
    """Whether :mod:`netc.ir.decompose` has a rule for each of ``prims``."""
    return all(p in RULES for p in prims)
