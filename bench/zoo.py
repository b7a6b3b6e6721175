"""specs/zoo/ on onnxruntime: netc's ONNX against the Keras + tf2onnx route, on the same Keras weights.

``python bench/zoo.py [--size N] [--only a,b] [--threads 2] [--rounds 3] [--runs 3] [--json OUT] [--md OUT]``

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make", nargs=3, metavar=("NAME", "SIZE", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=None, help="input size (default: each spec's own)")
    ap.add_argument("--only", default="", help="comma-separated zoo names (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=pathlib.Path)
    a = ap.parse_args()
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
                results["specs"][name] = {"error": p.stderr.strip().splitlines()[-1:]}
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
