"""The pipeline in one place: source -> AST -> checked model (IR) -> weights -> artifacts.

``netc.compile`` is the Python API; the CLI is a thin layer over it.
"""
from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from netc.diagnostics import NetcError
from netc.frontends.load import load_spec, parse_source
from netc.registry import Limits
from netc.semantic.analyze import CheckedModel, analyze

if TYPE_CHECKING:  # pragma: no cover - numpy is imported where weights are made (`netc summary` needs none)
    import numpy as np


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a model is built: everything built stays alive, so its
    collections only re-scan the growing graph (a third of the time on a 10,000-block spec). Reference
    counting still frees memory; the collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _looks_like_text(s: str) -> bool:
    return "\n" in s or ("#" in s and not os.path.exists(s))


def check_spec(path_or_text: str, *, limits: Limits | None = None, fmt: str | None = None) -> CheckedModel:
    """Parse and check a spec file (or spec text) without creating any weights."""
    with _gc_paused():
        if _looks_like_text(path_or_text):
            if fmt is None:
                fmt = "yaml" if path_or_text.lstrip().startswith("model_def") else "net"
            spec = parse_source(path_or_text, "<string>", fmt)
        else:
            spec = load_spec(path_or_text)
        return analyze(spec, limits)


@dataclass
class Model:
    """A compiled model: the checked IR plus one value per weight (IR layout, float32)."""

    checked: CheckedModel
    weights: dict[str, np.ndarray] = field(repr=False)

    @property
    def graph(self):
        return self.checked.graph

    def summary(self, as_json: bool = False) -> Any:
        """The `netc summary` table (or its data with ``as_json``)."""
        from netc.semantic.summary import summary_data, summary_table
        return summary_data(self.checked) if as_json else summary_table(self.checked)

    def to_onnx(self, path: str | None = None, *, opset: int = 17, io_layout: str = "nchw",
                external_data: bool | None = None):
        """The ONNX ModelProto (written atomically to ``path`` when given). Imports no TensorFlow.

        ``external_data`` (with ``path``): weights in ``<path>.data``; None chooses it above 2 GiB."""
        from netc.backends.onnx_backend import to_onnx, write_onnx
        with _gc_paused():
            if path is not None:
                return write_onnx(self.graph, self.weights, path, external_data=external_data, opset=opset,
                                  io_layout=io_layout)
            return to_onnx(self.graph, self.weights, opset=opset, io_layout=io_layout)

    def to_keras(self):
        """A Keras 3 functional model of stock layers with these weights, to embed and train."""
        from netc.backends.keras_backend import to_keras
        return to_keras(self.graph, self.weights)


def compile(path_or_text: str, *, seed: int = 0, weights: str | None = None, randomize: bool = False,
            limits: Limits | None = None) -> Model:
    """Compile a spec (a path, or spec text) into a :class:`Model`.

    Weights: Keras' default initialisation drawn from ``seed`` (``randomize`` draws BN statistics, biases
    and PReLU alphas too), or loaded from ``weights`` (a tf_netbuilder checkpoint prefix or a netc .npz).
    """
    with _gc_paused():
        checked = check_spec(path_or_text, limits=limits)
        if weights is not None:
            from netc.weights.load import load_weights
            values = load_weights(checked, weights)
        else:
            from netc.ir.weights import init_weights
            values = init_weights(checked.graph, seed, randomize=randomize)
    return Model(checked, values)


__all__ = ["Model", "NetcError", "check_spec", "compile"]
