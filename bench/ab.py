"""Interleaved A/B latency of ONNX models in one process, and the machine's fp32 peak, on onnxruntime.

``python bench/ab.py THREADS ROUNDS RUNS BATCHES MODEL...`` prints one JSON object. All sessions share
onnxruntime's global thread pool (``THREADS`` intra-op threads), so no session's idle pool spins while another
runs. Each round times every model, in an order rotated from round to round, ``RUNS`` times at each batch size
(more for a fast model: about ``ROUND_S`` seconds; after warm-up), and keeps the round's median per model:
the ratio of two models' medians in the same round is one *paired* ratio; the machine's load drifts between
rounds but hits both models of a round alike.

The peak is a float32 MatMul of 1024 x 1024 matrices, one product per thread (so every core runs one), in
the same process and thread pool: 2 * 1024^3 flops per product, timed 4 times before the first round and after
each round; the best of all those runs is the peak (the least disturbed moment of a shared machine). It is
what MLAS's SGEMM kernel reaches, the fastest float32 loop onnxruntime has on this CPU, not the data sheet's
number.
"""
from __future__ import annotations

import json
import statistics
import sys
import time

WARMUP = 3
PEAK_N = 1024
PEAK_RUNS = 4
ROUND_S = 0.3      # a round times each model at least RUNS times and for about this long
MAX_RUNS = 30


def _session(model, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.use_per_session_threads = False   # the global pool: see the module docstring
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _feeds(sess, batch: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {i.name: rng.uniform(0, 255, [d if isinstance(d, int) else batch for d in i.shape]).astype(np.float32)
            for i in sess.get_inputs()}


def _peak_session(threads: int):
    import numpy as np
    from onnx import TensorProto, helper

    n = PEAK_N
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["B", n, n]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, ["B", n, n])],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["B", n, n])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    sess = _session(model.SerializeToString(), threads)
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((threads, n, n), dtype=np.float32) for k in ("a", "b")}
    for _ in range(WARMUP):
        sess.run(None, feeds)
    return sess, feeds, 2.0 * n ** 3 * threads


def _peak_sample(peak, runs: int = PEAK_RUNS) -> list[float]:
    sess, feeds, flops = peak
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        out.append(flops / (time.perf_counter() - t0) / 1e9)
    return out


def ab(models: list[str], threads: int, rounds: int, runs: int, batches: list[int]) -> dict:
    """Per model and batch: every sample and each round's median; rotation of the order per round; the MatMul
    peak sampled before the first round and after each one."""
    sessions = [_session(m, threads) for m in models]
    peak = _peak_session(threads)
    peaks = _peak_sample(peak)
    out: dict = {"threads": threads, "rounds": rounds, "runs_per_round": runs, "models": models, "batches": {}}
    for batch in batches:
        feeds = [_feeds(s, batch) for s in sessions]
        slowest = 0.0
        for s, f in zip(sessions, feeds):
            for _ in range(WARMUP):
                t0 = time.perf_counter()
                s.run(None, f)
                slowest = max(slowest, time.perf_counter() - t0)
        n = max(runs, min(MAX_RUNS, int(ROUND_S / max(slowest, 1e-6))))   # fast models: more runs per round
        samples: list[list[float]] = [[] for _ in models]
        medians: list[list[float]] = [[] for _ in models]
        for r in range(rounds):
            order = [(r + k) % len(models) for k in range(len(models))]
            for i in order:
                t = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    sessions[i].run(None, feeds[i])
                    t.append(time.perf_counter() - t0)
                samples[i] += t
                medians[i].append(statistics.median(t))
            peaks += _peak_sample(peak)
        out["batches"][str(batch)] = {"samples": samples, "round_medians": medians, "runs_per_round": n}
    out["peak"] = {"gflops": max(peaks), "median_gflops": statistics.median(peaks), "samples": len(peaks),
                   "matmul": f"{threads} x ({PEAK_N}x{PEAK_N} @ {PEAK_N}x{PEAK_N})"}
    return out


def main(argv: list[str]) -> None:
    import onnxruntime as ort

    threads, rounds, runs = int(argv[0]), int(argv[1]), int(argv[2])
    batches = [int(b) for b in argv[3].split(",")]
    ort.set_global_thread_pool_sizes(threads, 1)
    print(json.dumps(ab(argv[4:], threads, rounds, runs, batches)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
