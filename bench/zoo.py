"""specs/zoo/ on onnxruntime: netc's ONNX against the Keras + tf2onnx route, on the same Keras weights.

``python bench/zoo.py [--size N] [--only a,b] [--threads 2] [--rounds 3] [--runs 3] [--json OUT]``, then
``python bench/zoo.py --report OUT.json docs/benchmarks-zoo.md`` writes the tables.

Per spec, a fresh process (``--make NAME SIZE DIR``) builds the keras.applications reference at the spec's own
size (224 px; 299 px for the Inception family and Xception) or ``--size``, every weight drawn at random and its
BN statistics calibrated (tests/refmodels), saves its `.keras` file, compiles the spec (its final softmax left
out: the reference has none) with those weights to ONNX, and converts the reference itself with tf2onnx (opset
17): the route users take today. It also reports how closely netc's ONNX (onnxruntime, ORT_ENABLE_ALL)
reproduces the reference's float32 logits, against the reference's own float32 noise (its float64 twin), on
netc check's inputs: the full-size reproduction figures of docs/reference-models.md. Then bench/ab.py times
netc's ONNX, tf2onnx's and netc's again (the A/A control: the run's own noise) interleaved at batch 1.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]


def make(name: str, size: int, out: pathlib.Path) -> dict:
    """Reference, netc's ONNX of its weights and tf2onnx's conversion of it, in ``out``; reproduction figures."""
    import numpy as np
    import onnxruntime as ort

    import netc
    from netc.backends.onnx import save_onnx
    from netc.backends.tf2onnx_route import keras_to_onnx
    from netc.diagnostics import NetcError
    from refmodels.models import build, in_dtype
    from refmodels.precision import input_cases, normalised_diff
    from refmodels.zoo import FULL_SIZE

    t0 = time.perf_counter()
    model = build(name, 0, size)
    keras_path = out / f"{name}.keras"
    model.save(keras_path)
    t1 = time.perf_counter()
    text = (ROOT / "specs" / "zoo" / f"{name}.net").read_text()
    full = FULL_SIZE[name]
    text = text.replace(f"{full}x{full}x3", f"{size}x{size}x3").replace("\n    softmax\n", "\n")
    spec = out / f"{name}.net"
    spec.write_text(text)
    netc_onnx = out / f"{name}_netc.onnx"
    netc.compile(str(spec), weights=str(keras_path)).to_onnx(str(netc_onnx))
    t2 = time.perf_counter()
    res: dict = {"name": name, "size": size, "params": int(model.count_params()),
                 "build_s": t1 - t0, "netc_s": t2 - t1, "netc": str(netc_onnx)}
    try:
        if os.environ.get("NETC_BENCH_SKIP_TF2ONNX"):   # ConvNeXt: tf2onnx works ~15 min at 224 px, then refuses
            raise NetcError(os.environ["NETC_BENCH_SKIP_TF2ONNX"])
        save_onnx(keras_to_onnx(model, opset=17), str(out / f"{name}_tf2onnx.onnx"))
        res["tf2onnx"] = str(out / f"{name}_tf2onnx.onnx")
    except NetcError as err:   # tf2onnx 1.17 has no Erfc: ConvNeXt's exact GELU
        res["tf2onnx_error"] = str(err).splitlines()[0]
    res["tf2onnx_s"] = time.perf_counter() - t2
    twin = in_dtype(model, name, "float64")
    sess = ort.InferenceSession(str(netc_onnx), providers=["CPUExecutionProvider"])
    noise, worst = 0.0, 0.0
    for _, x in input_cases(size):
        x = x.astype(np.float32)
        ref = np.asarray(model(x, training=False))
        noise = max(noise, normalised_diff(ref, np.asarray(twin(x.astype(np.float64), training=False))))
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]
        worst = max(worst, normalised_diff(got, ref))
    res.update(noise=noise, onnx_diff=worst, tol=max(1e-5, 3 * noise))
    return res


def _verdict(ratio: float, band: float) -> str:
    if abs(ratio - 1.0) <= band:
        return "tie (within A/A)"
    return "netc faster" if ratio < 1.0 else "netc slower"


def report(results: dict) -> str:
    """The markdown of docs/benchmarks-zoo.md from a run's JSON."""
    import platform
    import statistics

    import onnxruntime
    import tf2onnx

    def ms(s: float) -> str:
        return f"{s * 1e3:.1f}"

    specs = results["specs"]
    lines = ["| spec | px | parameters | netc ms | Keras + tf2onnx ms | netc / tf2onnx (paired, median) | A/A | "
             "verdict |", "|---|---|---|---|---|---|---|---|"]
    repro = ["| spec | px | noise (f32 vs f64) | netc ONNX vs reference | within 3x noise (floor 1e-5) |",
             "|---|---|---|---|---|"]
    for name, r in specs.items():
        if "error" in r:
            lines.append(f"| {name} | | | failed: {r['error']} | | | | |")
            continue
        b = r["ab"]["batches"]["1"]
        med = [statistics.median(s) for s in b["samples"]]
        control = len(b["round_medians"]) - 1
        aa = max(abs(x / y - 1.0) for x, y in zip(b["round_medians"][control], b["round_medians"][0]))
        if "tf2onnx" in r:
            ratios = [x / y for x, y in zip(b["round_medians"][0], b["round_medians"][1])]
            ratio = statistics.median(ratios)
            lines.append(f"| {name} | {r['size']} | {r['params']:,} | {ms(med[0])} | {ms(med[1])} | {ratio:.3f} "
                         f"({min(ratios):.3f}-{max(ratios):.3f}) | {aa:.3f} | {_verdict(ratio, aa)} |")
        else:
            lines.append(f"| {name} | {r['size']} | {r['params']:,} | {ms(med[0])} | {r['tf2onnx_error']} | | "
                         f"{aa:.3f} | no tf2onnx route |")
        ok = "yes" if r["onnx_diff"] <= r["tol"] else "**no**"
        repro.append(f"| {name} | {r['size']} | {r['noise']:.2e} | {r['onnx_diff']:.2e} | {ok} |")
    head = [
        "# Benchmarks: the keras.applications zoo",
        "",
        "Generated by `python bench/zoo.py --threads {t} --rounds {n} --runs 3 --json zoo.json` then "
        "`python bench/zoo.py --report zoo.json docs/benchmarks-zoo.md`.".format(t=results["threads"],
                                                                                n=results["rounds"]),
        "Each spec of specs/zoo/ at its own size, with the weights of its keras.applications reference (every "
        "weight drawn at random, BN statistics calibrated, tests/refmodels): netc's ONNX of the spec against the "
        "reference converted by tf2onnx (opset 17), both on onnxruntime "
        f"{onnxruntime.__version__} (CPU, ORT_ENABLE_ALL, {results['threads']} intra-op thread(s)), batch 1, "
        "timed interleaved by bench/ab.py (each round times every model in a rotated order; the ratio of two "
        "models' medians in one round is a paired ratio). A/A is the largest deviation from 1 of netc's model "
        "against a second session of the same file in the same rounds: the run's own noise; a ratio within it "
        "is a tie. netc's ONNX takes NCHW input, tf2onnx's NHWC (as each route writes them).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other "
        f"work; load average (1, 5, 15 min) before {_load(results['load_before'])}, after "
        f"{_load(results.get('load_after', results['load_before']))}"
        + "".join(f"; rerun of {', '.join(x['specs'])}: {_load(x['load_before'])} / {_load(x['load_after'])}"
                  for x in results.get("reruns", [])) + f". tf2onnx {tf2onnx.__version__}.",
        "",
        "## Latency", "", *lines, "",
        "## Reproduction at full size", "",
        "max|netc ONNX - reference| / max|reference| on the logits over netc check's inputs (zeros, normal, "
        "uniform 0-255), against the reference's own float32 noise (its float64 twin, same inputs).", "", *repro, ""]
    return "\n".join(head)


def _load(v) -> str:
    return ", ".join(f"{x:.2f}" for x in v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make", nargs=3, metavar=("NAME", "SIZE", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=None, help="input size (default: each spec's own)")
    ap.add_argument("--only", default="", help="comma-separated zoo names (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=pathlib.Path)
    ap.add_argument("--report", nargs=2, type=pathlib.Path, metavar=("JSON", "MD"), help="write the tables")
    a = ap.parse_args()
    if a.report:
        a.report[1].write_text(report(json.loads(a.report[0].read_text())))
        return
    if a.make:
        print(json.dumps(make(a.make[0], int(a.make[1]), pathlib.Path(a.make[2]))), flush=True)
        return
    from refmodels.zoo import FULL_SIZE, ZOO
    names = [n for n in (a.only.split(",") if a.only else sorted(ZOO)) if n]
    results = {"load_before": os.getloadavg(), "threads": a.threads, "rounds": a.rounds, "specs": {}}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            size = a.size or FULL_SIZE[name]
            p = subprocess.run([sys.executable, __file__, "--make", name, str(size), tmp], capture_output=True,
                               text=True)
            if p.returncode:
                results["specs"][name] = {"error": [f"exit status {p.returncode}", *p.stderr.strip().splitlines()[-1:]]}
                print(name, "failed:", p.stderr[-2000:], file=sys.stderr)
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            models = [r["netc"]] + ([r["tf2onnx"]] if "tf2onnx" in r else []) + [r["netc"]]
            ab = subprocess.run([sys.executable, str(ROOT / "bench" / "ab.py"), str(a.threads), str(a.rounds),
                                 str(a.runs), "1", *models], capture_output=True, text=True, check=True)
            r["ab"] = json.loads(ab.stdout.strip().splitlines()[-1])
            r["load_after"] = os.getloadavg()
            results["specs"][name] = r
            print(json.dumps({k: v for k, v in r.items() if k != "ab"}), flush=True)
            if a.json:
                a.json.write_text(json.dumps(results))
    results["load_after"] = os.getloadavg()
    if a.json:
        a.json.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
