"""Backends: one interface, one object each. ``cli``, ``compiler`` and ``check`` iterate over
:data:`BACKENDS` instead of naming formats.

A backend declares the file suffixes it writes, the primitives it emits (its table), the IR passes it
wants before emitting (always, and with ``--deploy``), and how to emit and save. Primitives outside its
table are decomposed (:mod:`netc.ir.decompose`) before emission. Heavy libraries load only when a backend
emits or saves, so importing this package stays cheap.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from netc.diagnostics import NetcError
from netc.ir.decompose import RULES, decomposer
from netc.ir.graph import Graph, Prim
from netc.ir.prims import DEFS
from netc.ir.passes import DEPLOY, Pass, fold_batchnorm, run_passes, strip_inference_identities
from netc.ir.weights import WeightValues


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

    def prims(self, **options: Any) -> frozenset[Prim]:  # pragma: no cover - abstract
        raise NotImplementedError

    def emit(self, graph: Graph, weights: WeightValues, **options: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def save(self, artifact: Any, path: str) -> None:  # pragma: no cover
        raise NotImplementedError

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
        return path.lower().endswith(self.suffixes) if self.suffixes else False


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


ONNX = OnnxBackend("onnx", "ONNX model (direct emitter, no TensorFlow)", suffixes=(".onnx",),
                   passes=(strip_inference_identities, fold_batchnorm),
                   options=("opset", "io_layout", "external_data", "prelu_form"))
KERAS = KerasBackend("keras", "native Keras 3 model file", suffixes=(".keras",))
SAVEDMODEL = KerasBackend("savedmodel", "TensorFlow SavedModel directory (from the Keras model)", directory=True)

BACKENDS: dict[str, Backend] = {b.name: b for b in (ONNX, KERAS, SAVEDMODEL)}


_FILE_SUFFIXES = {".h5", ".hdf5", ".npz", ".npy", ".pb", ".tflite", ".bin", ".pt", ".pth", ".json", ".yaml",
                  ".yml", ".net", ".txt", ".zip", ".tar", ".gz"}


def backend_for(path: str, name: str | None = None) -> Backend:
    """The backend named ``name``, or the one whose suffix ``path`` has (a directory: SavedModel)."""
    if name is not None:
        return BACKENDS[name]
    for b in BACKENDS.values():
        if b.claims(path):
            return b
    _, ext = os.path.splitext(path)
    if ext.lower() in _FILE_SUFFIXES:
        known = ", ".join(s for b in BACKENDS.values() for s in b.suffixes)
        raise NetcError(f"cannot tell the format of `{path}`: use a file ending in {known}, a directory for a "
                        f"SavedModel, or `--format`")
    return next(b for b in BACKENDS.values() if b.directory)


def decomposable(prims: frozenset[Prim]) -> bool:
    """Whether :mod:`netc.ir.decompose` has a rule for each of ``prims``."""
    return all(p in RULES for p in prims)
