"""Every backend over every block type, op, activation and input op of the registry.

Each case is a small spec; each backend runs its artifact through the routes `netc check` uses
(``Backend.check_routes``, plus the reference's own runner) in the training form and the deployed form, and
every output must match the numpy interpreter run in float64 (netc/ir/interp.py, the definition of each
primitive, not any backend). Static sizes of 12 x 12 (TF SAME at stride 2 pads one pixel after only) and
dynamic ones (`?x?`, run at 13 x 13: the pads are worked out at run time).
"""
from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import pytest

from netc.backends import BACKENDS, REFERENCE, Backend
from netc.backends.routes import CheckContext, Route, reference_runner
from netc.blocks import REGISTRY
from netc.compiler import compile
from netc.diagnostics import NetcError
from netc.ir import interp
from netc.ir.calibrate import calibrate_batchnorm

TOLERANCE = 1e-4   # max|d| / max|ref| against float64; float32 backends measure 1e-7 .. 3e-6 on these
HEAVY = {"savedmodel", "tf2onnx", "torch-export"}   # seconds per case (export, conversion): slow tests
#: what a third-party converter cannot take, and the located refusal netc gives instead (asserted, not skipped):
#: tf2onnx 1.17 has no converter for TensorFlow's Erfc, which Keras's exact GELU lowers to
REFUSED = {("tf2onnx", "act_ge"): "tf2onnx could not convert 1 TensorFlow op(s)"}
WINDOWED = {"cn", "hd", "ir", "cn2", "avgpool", "maxpool", "rv", "res", "bt", "cbn", "dw", "sep", "mb", "fmb"}


def _example(btype) -> str:
    parts = [btype.code]
    for code, p in btype.params.items():
        if p.required:
            parts.append("c8" if code == "c" else REGISTRY.arg_codes[code].kind.example(code))
    return "_".join(parts)


def _net(block: str, size: str = "12x12", rank: int = 4, input_op: str = "", channels: int = 8) -> str:
    head = f"input x#{input_op} {size}x{channels}\nb#:\n    select:x#\n"
    if rank == 2:
        head += "    gap\n"
    return f"{head}    {block}\noutput b#\n"


def _ops_net(line: str) -> str:
    return ("input x# 12x12x8\nb#:\n    select:x#\n    p#cn_k3_c8\n    q#cn_k1_c8_nsw\n    r#cn_k3_s1_c8_nhs\n"
            f"    {line}\noutput b#\n")


def _channels(text: str, rank: int) -> int:
    """8 input channels, or 3 for a block made for RGB images (imnorm)."""
    from netc.compiler import check_spec
    from netc.diagnostics import NetcError
    try:
        check_spec(_net(text, rank=rank))
        return 8
    except NetcError:
        return 3


def cases() -> list[tuple[str, str]]:
    out = []
    for code, btype in sorted(REGISTRY.blocks.items()):
        text, rank = _example(btype), btype.example_rank
        c = _channels(text, rank)
        out.append((code, _net(text, rank=rank, channels=c)))
        if "s" in btype.params and not btype.params["s"].required:
            out.append((f"{code}_s2", _net(f"{text}_s2", rank=rank, channels=c)))
        if code in WINDOWED:
            stride = "_s2" if "s" in btype.params and not btype.params["s"].required else ""
            out.append((f"{code}{stride}_dynamic", _net(f"{text}{stride}", size="?x?", channels=c)))
    for code, op in sorted(REGISTRY.ops.items()):
        if any(p.required for p in op.params.values()):
            continue   # spfuse: its parents come from SpineNet's table (the specs test covers it)
        n = 1 if op.min_inputs < 2 else min(3, op.max_inputs or 3)
        out.append((code, _ops_net(f"{code}:" + ":".join(["p#", "q#", "r#"][:n]))))
    out += [(f"act_{a}", _net(f"cn_k3_c8_n{a}")) for a in sorted(REGISTRY.activations)]
    out += [(f"input_{op}", _net("cn_k3_c8", input_op=op, channels=3)) for op in sorted(REGISTRY.input_ops)]
    return out


CASES = cases()


def _routes(backend: Backend, ctx: CheckContext) -> list[Route]:
    routes = list(backend.check_routes(ctx))
    if backend.name == REFERENCE and not ctx.deploy:
        routes.append(Route(f"{backend.name} (reference)", lambda: (reference_runner(ctx), [])))
    return routes


def _feeds(model) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    shapes = {v.name: tuple(13 if d is None else d for d in v.shape[1:]) for v in model.graph.inputs}
    return {n: rng.uniform(0, 255, (2, *s)).astype(np.float32) for n, s in shapes.items()}


def run_case(backend: Backend, text: str, forms: tuple[bool, ...] = (False, True)) -> dict[str, float]:
    """Each route's worst max|d| / max|ref| against the float64 interpreter, training and deployed form."""
    model = compile(text, randomize=True)
    model.weights = calibrate_batchnorm(model.graph, model.weights, 0)
    feeds = _feeds(model)
    ref = interp.run(model.graph, model.weights, feeds, dtype=np.float64)
    out_names = [n for n, _ in model.graph.outputs]
    worst: dict[str, float] = {}
    for deploy in forms:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = CheckContext(model, [("uniform", feeds)], out_names, tmp, deploy=deploy, all_routes=True)
            for route in _routes(backend, ctx):
                run, _ = route.make()
                got = run(feeds)
                for name in out_names:
                    r, g = ref[name], np.asarray(got[name], np.float64)
                    assert g.shape == r.shape, (route.label, name, g.shape, r.shape)
                    norm = float(np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-30))
                    worst[route.label] = max(worst.get(route.label, 0.0), norm)
    return worst


def _params() -> list:
    params = []
    for name in BACKENDS:
        marks = [pytest.mark.slow] if name in HEAVY else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _params())
def test_backend_conforms_on_every_block_type(name):
    backend = BACKENDS[name]
    if not backend.available():
        pytest.skip(f"{backend.requires.missing()} is not installed (netc[{backend.requires.extra}])")
    failures, labels = [], set()
    heavy = name in HEAVY and not os.environ.get("NETC_CONFORMANCE_ALL")   # CI: each case once, training form
    for case, text in CASES:
        if heavy and case.endswith(("_s2", "_dynamic")):
            continue
        if (name, case) in REFUSED:
            with pytest.raises(NetcError, match=re.escape(REFUSED[name, case])):
                run_case(backend, text, (False,))
            continue
        worst = run_case(backend, text, (False,) if heavy else (False, True))
        labels.update(worst)
        failures += [f"{case}: {label} {norm:.2e}" for label, norm in worst.items() if not norm <= TOLERANCE]
    assert labels, f"the {name} backend ran no route"
    assert not failures, failures


def test_cases_cover_the_registry():
    """A new block type, op, activation or input op joins the cases by itself (the spfuse op, whose
    parents come from SpineNet's table, is covered by the specs: tests/test_torch_backend.py)."""
    ids = {case for case, _ in CASES}
    assert set(REGISTRY.blocks) <= ids
    assert set(REGISTRY.ops) - {"spfuse"} <= ids
    assert {f"act_{a}" for a in REGISTRY.activations} <= ids
    assert {f"input_{op}" for op in REGISTRY.input_ops} <= ids
