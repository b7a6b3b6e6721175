"""`netc check`: build every backend from the same weights, run them on the same inputs, compare.

The reference is the Keras model on TensorFlow (what tf_netbuilder users ran; netc.backends.REFERENCE).
Each backend adds its columns (``Backend.check_routes``: netc/backends/routes.py and the backends' modules):
netc's ONNX on onnxruntime with graph optimisations off and fully on, the PyTorch module, and with ``--all``
the tf2onnx route, the reloaded SavedModel and the torch.export program. Differences are reported as
max|diff| and as max|diff| divided by the output's max|reference| (per-element relative error is
meaningless near zero).
"""
from __future__ import annotations

import gc
import platform
import tempfile
from typing import Any, Callable

import numpy as np

from netc import progress
from netc.compiler import Model, compile as compile_model
from netc.diagnostics import NetcError
from netc.registry import Limits
from netc.samples import DYNAMIC_SIZE, check_cases  # noqa: F401 - DYNAMIC_SIZE: its former home
# the input cases drawn like int8 calibration's synthetic data (netc.deploy.calibration.synthetic): an int8
# artifact is judged on these only; constant images fall outside its calibrated ranges and saturate
CALIBRATION_LIKE = ("uniform 0-255", "uniform, batch 2")
# float16 rounds 2^13 times coarser than float32 (unit roundoff 2^-11 against 2^-24): a reference whose float32
# noise times this reaches 1 amplifies rounding so much that no float16 model could match it on check's weights
FP16_NOISE_GAIN = 2.0 ** 13


def _input_cases(model: Model, seed: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    return check_cases({v.name: v.shape[1:] for v in model.graph.inputs}, seed)


MIN_RTOL = 1e-4        # the default tolerance's floor (measured float32 noise of the seed models: 1e-6..6e-5)
NOISE_FACTOR = 3.0     # two float32 implementations each differ from the exact result by about the noise


def float32_noise(outputs: list[dict[str, np.ndarray]], run64: Callable,
                  feeds_list: list[dict[str, np.ndarray]], per_case: list[float] | None = None) -> float:
    """The reference's own float32 rounding noise: max over outputs and inputs of max|f32 - f64| / max|f64|,
    between the reference's float32 ``outputs`` on ``feeds_list`` and its float64 twin (``run64``) run on the
    same feeds and weights. Deep random networks amplify rounding unless their BN statistics keep most ReLU
    units on (netc.ir.calibrate); real mapping mistakes cost 0.05 to 0.5. ``per_case``, when given, receives
    each input's own figure."""
    worst = 0.0
    for lo, feeds in zip(outputs, feeds_list):
        hi = run64({k: v.astype(np.float64) for k, v in feeds.items()})
        case = 0.0
        for name, ref in hi.items():
            ref = np.asarray(ref, np.float64)
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
            if scale > 0:
                case = max(case, float(np.max(np.abs(lo[name] - ref))) / scale)
        if per_case is not None:
            per_case.append(case)
        worst = max(worst, case)
    return worst


def _compare(ref: np.ndarray, got: np.ndarray, atol: float | None, rtol: float) -> dict[str, Any]:
    finite = bool(np.isfinite(got).all())
    if got.shape != ref.shape:
        return {"shape": list(got.shape), "shape_ok": False, "finite": finite, "max_abs": None, "norm": None,
                "ok": False}
    diff = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    norm = diff / scale if scale > 0 else diff
    ok = finite and norm <= rtol and (atol is None or diff <= atol)
    return {"shape": list(got.shape), "shape_ok": True, "finite": finite, "max_abs": diff, "norm": norm, "ok": ok}


def _compare_reduced(ref: np.ndarray, got: np.ndarray, precision: str, classifier: bool, fit: Any,
                     judged: bool) -> dict[str, Any]:
    from netc.deploy.metrics import compare
    return compare(ref, got, precision, classifier, fit=fit, judged=judged)


def _fp16_judgeable(noise: float | None) -> bool:
    """Whether check's weights let a float16 model be compared at all: the reference's float32 noise,
    scaled to float16's rounding, must stay below 1 (deep random networks can amplify rounding ~1e6x)."""
    return noise is None or noise * FP16_NOISE_GAIN < 1.0


def _reduced_tolerance(reduced: dict[str, str], noise: float | None) -> dict[str, Any]:
    if not reduced:
        return {}
    from netc.deploy.metrics import FIT_TOLERANCE, REL_L2_TOLERANCE
    out: dict[str, Any] = {"rel_l2": {label: REL_L2_TOLERANCE[p] for label, p in reduced.items()}}
    if "fp16" in reduced.values() and not _fp16_judgeable(noise):
        out["fp16_not_judged"] = (f"the reference's float32 noise {noise:.2g} x 2^13 (float16's coarser rounding) "
                                  f"= {noise * FP16_NOISE_GAIN:.2g} >= 1: on check's random weights this network "
                                  f"amplifies rounding too much for a float16 model to be compared")
    if "int8" in reduced.values():
        out["int8_fit"] = FIT_TOLERANCE
        out["int8_judged_inputs"] = list(CALIBRATION_LIKE)
    return out


def _versions(backends: list[Any]) -> dict[str, str]:
    """Versions of netc, Python, numpy and of the modules each backend that ran declares."""
    from importlib.metadata import PackageNotFoundError, version

    import netc
    v = {"netc": netc.__version__, "python": platform.python_version(), "numpy": np.__version__}
    for b in backends:
        for name in b.versions_of:
            if name not in v:
                try:
                    v[name] = version(name)
                except PackageNotFoundError:
                    v[name] = getattr(__import__(name), "__version__", "?")
    return v


def _source_runner(weights: str | None) -> Callable | None:
    """The model the weights came from, as a route: a full Keras model, or a SavedModel's signature (None for
    weights-only sources)."""
    if weights is None:
        return None
    from netc.weights.keras_source import is_keras_source, open_source
    if not is_keras_source(weights):
        return None
    src = open_source(weights)
    if src.model is None and src.run is None:
        return None

    def run(feeds: dict[str, np.ndarray], like: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if src.model is None:   # a SavedModel: its signature (weights/keras_source.py)
            outs = src.run(list(feeds.values()))
        else:
            outs = src.model([feeds[k] for k in feeds] if len(feeds) > 1 else next(iter(feeds.values())),
                             training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        got = {}
        for (name, ref), o in zip(like.items(), outs):
            o = np.asarray(o)
            got[name] = o.reshape(ref.shape) if o.size == ref.size else o
        return got
    return run


def _weights_line(model: Any, weights: str | None) -> str | None:
    """The weights source, with how its layers were paired (weights/keras_match.py's note)."""
    if weights is None:
        return None
    note = next((w.message for w in model.checked.warnings if w.severity == "note" and " paired by " in w.message),
                None)
    return note or weights


def run_check(spec: str, *, weights: str | None = None, seed: int = 0, atol: float | None = None,
              rtol: float | None = None, provider: str = "cpu", all_routes: bool = False, deploy: bool = False,
              limits: Limits | None = None, weights_map: str | None = None, precision: str = "fp32",
              calibrate: int | None = None, weights_subtree: str | None = None) -> dict[str, Any]:
    """Compare every backend's routes against the reference; returns the report (``report["ok"]`` is the verdict).

    The reference is the training-form model of :data:`netc.backends.REFERENCE` (Keras; BN in inference mode).
    Each backend adds its columns (:meth:`netc.backends.Backend.check_routes`): with ``deploy`` the deployed
    forms beside the training forms, with ``all_routes`` the slower routes too; a backend whose optional
    dependency is missing is left out with a note, unless ``all_routes`` asks for every route. With weights from a Keras model, that model
    is a column too (``source model (tf)``). ``provider`` other than cpu adds CPU columns and compares the
    runs; ``precision`` fp16/int8 adds that artifact's column, judged by netc.deploy.metrics' tolerances."""
    from netc.backends import BACKENDS, REFERENCE
    from netc.backends.routes import CheckContext, reference_description, reference_runner
    from netc.deploy.providers import require
    reference_backend = BACKENDS[REFERENCE]
    reference_backend.require("`netc check` (its reference)")
    if all_routes:
        for b in BACKENDS.values():
            b.require(f"`netc check --all` (the {b.name} backend)")
    require(provider)
    if precision != "int8" and calibrate is not None:
        raise NetcError("--calibrate goes with --precision int8")
    progress.step(f"compiling {spec}" + (f" with weights from {weights}" if weights else ""))
    model = compile_model(spec, seed=seed, weights=weights, randomize=weights is None, limits=limits,
                          weights_map=weights_map, weights_subtree=weights_subtree)
    if weights is None:
        from netc.ir.calibrate import calibrate_batchnorm
        progress.step("calibrating BN statistics on the numpy interpreter")
        model.weights = calibrate_batchnorm(model.graph, model.weights, seed)
    cases = _input_cases(model, seed)
    out_names = [n for n, _ in model.graph.outputs]
    with tempfile.TemporaryDirectory(prefix="netc-check-") as tmp:
        ctx = CheckContext(model, cases, out_names, tmp, deploy=deploy, provider=provider, all_routes=all_routes,
                           precision=precision, calibrate=calibrate, seed=seed)
        if provider == "cuda":
            import tensorflow as tf
            tf.config.experimental.enable_tensor_float_32_execution(False)
        progress.step("building the Keras reference")
        reference = reference_runner(ctx)
        refs = [reference(feeds) for _, feeds in progress.steps(cases, "running the Keras reference: input")]
        del reference
        noise = spread = None
        if rtol is None:   # the tolerance comes from the reference itself: 3x its float32 noise, never below 1e-4; the
            # noise is the larger of the reference's float32-vs-float64 distance and the rounding spread
            progress.step("measuring the reference's float32 noise against float64")
            per_case: list[float] = []
            noise = float32_noise(refs, reference_runner(ctx, "float64"), [feeds for _, feeds in cases], per_case)
            if per_case:   # one draw of the noise is not enough: perturbed float64 runs of the noisiest input
                from netc.ir.rounding import rounding_spread
                progress.step("measuring the spread of float32 rounding on the float64 network")
                worst_case = cases[int(np.argmax(per_case))][1]
                spread = rounding_spread(model.graph, model.weights, worst_case, seed=seed)
                noise = max(noise, spread)
            rtol = max(MIN_RTOL, NOISE_FACTOR * noise)
            gc.collect()
        ran = [reference_backend]
        routes = []
        for b in BACKENDS.values():
            if not b.available():
                ctx.notes.append(f"{b.name}: not run, {b.requires.missing()} is not installed "
                                 f"(`pip install 'netc[{b.requires.extra}]'`)")
                continue
            made = b.check_routes(ctx)
            if made and b not in ran:
                ran.append(b)
            routes.extend(made)
        source = _source_runner(weights)
        if source is not None:
            from netc.backends.routes import Route, tf_devices
            routes.append(Route("source model (tf)", lambda: (source, tf_devices())))
        # Each route is made, run on every case and dropped before the next one is made: a session holds its
        # weights and its memory arena's peak, and for SpineNet-190 at 640 px all of them at once passed 22 GiB.
        results: dict[str, list[dict[str, np.ndarray]]] = {}   # label -> outputs of each case
        providers: dict[str, list[str]] = {}
        for i, r in enumerate(routes, 1):
            progress.step(f"running route {r.label}", i, len(routes))
            run, providers[r.label] = r.make()
            results[r.label] = [run(feeds, ref) if r.label == "source model (tf)" else run(feeds)
                                for (_, feeds), ref in zip(cases, refs)]
            del run
            gc.collect()
        notes = ctx.notes
        del ctx
    reduced = {r.label: r.precision for r in routes if r.precision != "fp32"}
    by_label = {r.label: r for r in routes}
    rows = []
    for k, ((case, feeds), ref) in enumerate(zip(cases, refs)):
        judged = case in CALIBRATION_LIKE if precision == "int8" else _fp16_judgeable(noise)
        for name in out_names:
            r = ref[name]
            row_results: dict[str, Any] = {}
            for label, res in results.items():
                route = by_label[label]
                row_results[label] = (_compare(r, res[k][name], atol, rtol) if label not in reduced else
                                      _compare_reduced(r, res[k][name], reduced[label], name in route.classifiers,
                                                       None if route.fits is None else route.fits[k], judged))
            for label, res in results.items():   # e.g. the accelerator's run against the CPU run of one model
                versus = by_label[label].versus
                if versus is not None:
                    row_results[versus[0]] = _compare(results[versus[1]][k][name], res[k][name], atol, rtol)
            rows.append({
                "input": case, "batch": int(next(iter(feeds.values())).shape[0]), "output": name,
                "shape": list(r.shape), "ref_max_abs": float(np.max(np.abs(r))) if r.size else 0.0,
                "ref_finite": bool(np.isfinite(r).all()), "results": row_results,
            })
    ok = all(res["ok"] for row in rows for res in row["results"].values()) and all(r["ref_finite"] for r in rows)
    worst = max((res["norm"] for row in rows for label, res in row["results"].items()
                 if res["norm"] is not None and label not in reduced), default=0.0)
    versions = _versions(ran)
    failing = sorted({row["output"] for row in rows for res in row["results"].values() if not res["ok"]})
    reference_text, reference_devices = reference_description()
    return {
        "spec": spec, "ok": ok, "worst_norm": worst, "failing_outputs": failing, "deploy": deploy,
        "weights": _weights_line(model, weights) or (f"random (seed {seed}): kernels, biases, BN gamma/beta and PReLU alphas drawn, "
                               f"BN statistics calibrated on a sample batch"),
        "reference": reference_text,
        "tolerance": {"rtol_normalised": rtol, "atol": atol, "float32_noise": noise, "rounding_spread": spread,
                      "rule": None if noise is None else f"max({MIN_RTOL:g}, {NOISE_FACTOR:g} x float32 noise)",
                      **_reduced_tolerance(reduced, noise)},
        "providers": providers,
        "tf_devices": reference_devices,
        "notes": notes,
        "versions": versions, "columns": list(rows[0]["results"]) if rows else [r.label for r in routes],
        "rows": rows, "params": model.checked.params,
    }


def format_report(report: dict[str, Any]) -> str:
    """A readable table: one row per input case and output, one column per route."""
    cols = report["columns"]
    head = ["input", "output", "shape", "max|ref|"] + [f"{c} max|d| / norm" for c in cols]
    rows = [head]
    for r in report["rows"]:
        cells = [r["input"], r["output"], "x".join(map(str, r["shape"])), f"{r['ref_max_abs']:.3g}"]
        for c in cols:
            res = r["results"][c]
            if not res["shape_ok"]:
                cells.append(f"SHAPE {'x'.join(map(str, res['shape']))}")
            elif res.get("rel_l2") is not None:
                top1 = "" if res["top1"] is None else f" top1 {res['top1']:.0%}"
                fit = "" if res.get("fit") is None else f" fit {res['fit']:.2e}"
                verdict = ("" if res["ok"] else "  <-- DIFFERS") if res.get("judged", True) else "  (not judged)"
                cells.append(f"{res['max_abs']:.2e} / {res['norm']:.2e} L2 {res['rel_l2']:.2e}{top1}{fit}"
                             f"{'' if res['finite'] else ' NaN/Inf'}{verdict}")
            else:
                mark = "" if res["ok"] else "  <-- DIFFERS"
                nan = "" if res["finite"] else " NaN/Inf"
                cells.append(f"{res['max_abs']:.2e} / {res['norm']:.2e}{nan}{mark}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"netc check {report['spec']}",
             f"weights:   {report['weights']}",
             f"reference: {report['reference']} ({', '.join(report['tf_devices'])})",
             "providers: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in report["providers"].items()),
             "versions:  " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
             *(f"note:      {n}" for n in report.get("notes", ())),
             ""]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    tol = report["tolerance"]
    bound = f"max|d|/max|ref| <= {tol['rtol_normalised']:.3g}" + (f" and max|d| <= {tol['atol']:g}" if tol["atol"] else "")
    if tol.get("float32_noise") is not None:
        bound += f" = {tol['rule']}, noise {tol['float32_noise']:.2e}"
    bound += "".join(f"; {c}: ||d||/||ref|| <= {t:g}" for c, t in tol.get("rel_l2", {}).items())
    if "fp16_not_judged" in tol:
        bound += f" (not judged: {tol['fp16_not_judged']})"
    if "int8_fit" in tol:
        bound += (f" and every quantized tensor's fit <= {tol['int8_fit']:g}, judged on the inputs drawn like "
                  f"its calibration data ({', '.join(tol['int8_judged_inputs'])})")
    lines.append("")
    if report["ok"]:
        lines.append(f"OK: every route agrees ({bound}; worst {report['worst_norm']:.2e})")
    else:
        lines.append(f"DIFFERS: {', '.join(report['failing_outputs']) or 'reference not finite'} "
                     f"(tolerance {bound}; worst {report['worst_norm']:.2e})")
    return "\n".join(lines) + "\n"
