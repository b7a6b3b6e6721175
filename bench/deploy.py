"""Latency and file size of fp32 / fp16 / int8 ONNX artifacts for every spec in specs/ (docs/deploy.md).

onnxruntime, batch 1, graph optimisations on, ``--threads`` intra-op threads (2). The three models of a spec
are timed in interleaved rounds (each round runs every model ``--runs`` times after a warm-up), so drifts in
the machine's load hit them alike; the figure is the median over all runs. ``--provider cuda`` times them on
the GPU (onnxruntime-gpu needed; the run stops with netc's error if the provider is missing). The int8 model
is calibrated on 16 inputs drawn like `netc check`'s; the weights are `netc check`'s (drawn at random, seed 0,
BN statistics calibrated so activations stay of order one: default initialisation lets them decay into
denormals, which CPUs run several times slower).

    python bench/deploy.py [--provider cpu|cuda|tensorrt] [--rounds 5] [--runs 10] [--spec specs/x.net]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netc.compiler import compile as compile_model            # noqa: E402
from netc.deploy import calibration, precision, providers      # noqa: E402


def _specs(chosen: list[str]) -> list[Path]:
    if chosen:
        return [Path(s) for s in chosen]
    nets = sorted((ROOT / "specs").glob("*.net"))
    return nets + [p for p in sorted((ROOT / "specs").glob("*.yaml")) if p.with_suffix(".net") not in nets]


def bench_spec(spec: Path, provider: str, threads: int, rounds: int, runs: int) -> dict:
    from netc.ir.calibrate import calibrate_batchnorm
    model = compile_model(str(spec), randomize=True)
    model.weights = calibrate_batchnorm(model.graph, model.weights, 0)
    proto = model.to_onnx()
    infos = calibration.input_infos(proto)
    models = {"fp32": proto, "fp16": precision.to_fp16(proto),
              "int8": precision.to_int8(proto, calibration.synthetic(infos, 16, 0))}
    sessions = {k: providers.session(m, provider, threads=threads) for k, m in models.items()}
    feeds = calibration.synthetic(infos, 1, 1)[0]
    times: dict[str, list[float]] = {k: [] for k in models}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, feeds)
    for _ in range(rounds):
        for k, s in sessions.items():
            for _ in range(runs):
                t = time.perf_counter()
                s.run(None, feeds)
                times[k].append(time.perf_counter() - t)
    return {k: {"bytes": models[k].ByteSize(), "median_ms": 1e3 * statistics.median(times[k]),
                "providers": sessions[k].get_providers()} for k in models}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provider", default="cpu", choices=list(providers.PROVIDERS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--spec", action="append", default=[])
    a = ap.parse_args()
    providers.require(a.provider)
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__}, provider {a.provider}, {a.threads} threads, batch 1, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| spec | precision | size (MB) | size vs fp32 | median latency (ms) | vs fp32 | ran on |")
    print("|---|---|---:|---:|---:|---:|---|")
    for spec in _specs(a.spec):
        r = bench_spec(spec, a.provider, a.threads, a.rounds, a.runs)
        base = r["fp32"]
        for k, v in r.items():
            print(f"| {spec.name} | {k} | {v['bytes'] / 1e6:.1f} | {base['bytes'] / v['bytes']:.2f}x smaller | "
                  f"{v['median_ms']:.1f} | {base['median_ms'] / v['median_ms']:.2f}x | {v['providers'][0]} |")
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
