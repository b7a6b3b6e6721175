"""The pipeline in one place: source -> AST -> checked model (IR) -> weights -> artifacts.

``netc.compile`` is the Python API; the CLI is a thin layer over it.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from netc.diagnostics import NetcError
from netc.frontends.load import load_spec, parse_source
from netc.registry import Limits
from netc.semantic.analyze import CheckedModel, analyze

if TYPE_CHECKING:  # pragma: no cover - numpy is imported where weights are made (`netc summary` needs none)
    import numpy as np


def _looks_like_text(s: str) -> bool:
    """Spec text rather than a path: a spec needs several lines (a stack header stands on its own line), so
    text without a line break is a path, and a path that does not exist is a missing file."""
    return ("\n" in s or "\r" in s) and not os.path.exists(s)


@contextlib.contextmanager
def sources_of(spec) -> Iterator[None]:
    """Errors raised inside carry ``spec``'s source lines (for the line and caret under each message)."""
    try:
        yield
    except NetcError as err:
        raise err.with_source(spec.file, spec.lines)


def check_spec(path_or_text: str, *, limits: Limits | None = None, fmt: str | None = None,
               plugins: list[str] | tuple[str, ...] | None = None) -> CheckedModel:
    """Parse and check a spec file (or spec text) without creating any weights. ``plugins``: plugin files
    (default: those named by the CLI's `--plugin`); installed `netc.blocks` plugins load too."""
    from netc.plugins import active_files, registry_for
    reg = registry_for(active_files() if plugins is None else plugins)
    try:
        if _looks_like_text(path_or_text):
            if fmt is None:
                fmt = "yaml" if path_or_text.lstrip().startswith(("model_def", "net:", "input:", "templates:")) \
                    else "net"
            spec = parse_source(path_or_text, "<string>", fmt)
        else:
            spec = load_spec(path_or_text)
    except NetcError as err:   # block strings that did not parse: the model's own errors in the same report
        if getattr(err, "spec", None) is None:
            raise
        with sources_of(err.spec):
            analyze(err.spec, limits, reg, errors=err)
        raise   # pragma: no cover - analyze raises: it was given errors
    with sources_of(spec):
        return analyze(spec, limits, reg)


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

    def artifact(self, backend: str, *, deploy: bool = False, **options: Any) -> Any:
        """The in-memory artifact of ``backend`` (a name in :data:`netc.backends.BACKENDS`); ``deploy``
        applies the deploy-time rewrites (BNs folded, RepVGG branches fused) first."""
        from netc.backends import backend_for
        b = backend_for("", backend)
        b.require()
        with sources_of(self.checked.spec):
            return b.build(self.graph, self.weights, deploy=deploy, **options)

    def save(self, path: str, *, backend: str | None = None, deploy: bool = False, **options: Any) -> Any:
        """Build the artifact the path's suffix (or ``backend``) names and write it atomically."""
        from netc.backends import backend_for
        b = backend_for(path, backend)
        b.require()
        with sources_of(self.checked.spec):
            return b.write(self.graph, self.weights, path, deploy=deploy, **options)

    def to_onnx(self, path: str | None = None, *, opset: int = 17, io_layout: str = "nchw", deploy: bool = False,
                external_data: bool | None = None):
        """The ONNX ModelProto (written atomically to ``path`` when given). Imports no TensorFlow.
        BNs are always folded into the convs before them; ``deploy`` also fuses RepVGG branches.
        ``external_data`` (with ``path``): weights in ``<path>.data``; None chooses it past 2 GiB."""
        if path is not None:
            return self.save(path, backend="onnx", deploy=deploy, opset=opset, io_layout=io_layout,
                             external_data=external_data).proto()
        return self.artifact("onnx", deploy=deploy, opset=opset, io_layout=io_layout)

    def to_keras(self, deploy: bool = False):
        """A Keras 3 functional model of stock layers with these weights, to embed and train: the training
        form (every BN, every branch), or with ``deploy`` the re-parameterised inference form."""
        return self.artifact("keras", deploy=deploy)

    def to_torch(self, deploy: bool = False, io_layout: str = "nchw"):
        """A ``torch.nn.Module`` of stock PyTorch layers with these weights (in training mode, as
        ``nn.Module`` starts; call ``.eval()`` for inference): the training form (every BN, every branch,
        real Dropout), or with ``deploy`` the re-parameterised form. Its source is what ``-o model.py``
        writes; ``io_layout="nhwc"`` takes and returns channels-last images."""
        from netc.backends.torch_backend import load_module
        return load_module(self.artifact("torch", deploy=deploy, io_layout=io_layout))


def compile(path_or_text: str, *, seed: int = 0, weights: str | None = None, randomize: bool = False,
            limits: Limits | None = None, weights_map: str | None = None,
            plugins: list[str] | tuple[str, ...] | None = None, weights_subtree: str | None = None) -> Model:
    """Compile a spec (a path, or spec text) into a :class:`Model`.

    Weights: Keras' default initialisation drawn from ``seed`` (``randomize`` draws BN statistics, biases
    and PReLU alphas too), or loaded from ``weights``: a tf_netbuilder checkpoint prefix, a netc .npz, or a
    Keras model (``.keras``, ``.weights.h5``, legacy ``.h5``, SavedModel directory) paired by structure,
    with ``weights_map`` (a YAML file) pinning pairs the structure leaves ambiguous; ``weights_subtree`` names
    the object of a TF checkpoint that holds the model (default: the one subtree that fits).
    """
    checked = check_spec(path_or_text, limits=limits, plugins=plugins)
    if weights is not None:
        from netc.weights.load import load_weights
        with sources_of(checked.spec):
            values = load_weights(checked, weights, weights_map, weights_subtree)
    else:
        from netc.ir.weights import init_weights
        values = init_weights(checked.graph, seed, randomize=randomize)
    return Model(checked, values)


__all__ = ["Model", "NetcError", "check_spec", "compile"]
