"""Measurement workers of bench/run.py, each run in a fresh process: ``python bench/workers.py KIND ARGS...``.

Kinds (each prints one JSON object on its last stdout line):

- ``tf2onnx SPEC OUT [NETC_OUT]``: the route users take today: import TensorFlow, build the Keras model
  (netc's Keras backend stands in for the hand-written Keras code), convert with tf2onnx (opset 17), save. The
  caller times the whole process; the JSON splits it into phases. With NETC_OUT, trained-like weights (all
  drawn at random) and netc's ONNX of them as well, for the latency comparison.
- ``ort BATCHES RUNS THREADS MODEL [profile]``: onnxruntime CPU latency (ORT_ENABLE_ALL, intra-op threads =
  THREADS) of one model at each batch size: RUNS timings after warm-up; also the node count of ORT's optimized
  graph, and with ``profile`` the time per operator type at batch 1 from onnxruntime's profiler.
- ``tf SPEC BATCHES RUNS THREADS``: TensorFlow latency of the Keras model (a ``tf.function`` calling
  ``model(x, training=False)``).

Warm-up runs (default 5) and profiled runs (default 10) come from NETC_BENCH_WARMUP and NETC_BENCH_PROFILE_RUNS.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

WARMUP = int(os.environ.get("NETC_BENCH_WARMUP", "5"))            # bench/run.py lowers both for heavy specs
PROFILE_RUNS = int(os.environ.get("NETC_BENCH_PROFILE_RUNS", "10"))


def _emit(obj) -> None:
    print(json.dumps(obj), flush=True)


def tf2onnx_route(spec: str, out: str, netc_out: str | None = None) -> None:
    """With ``netc_out``: every weight drawn at random (trained-like: no two tensors alike), and netc's ONNX
    of the same weights written there too."""
    t0 = time.perf_counter()
    import tensorflow as tf  # noqa: F401  (the route includes TensorFlow's import)
    t1 = time.perf_counter()
    import netc
    from netc.backends.onnx import save_onnx
    from netc.backends.tf2onnx_route import keras_to_onnx
    compiled = netc.compile(spec, randomize=netc_out is not None)
    if netc_out is not None:
        compiled.weights = trained_like(compiled)
        compiled.to_onnx(netc_out)
    model = compiled.to_keras()
    t2 = time.perf_counter()
    save_onnx(keras_to_onnx(model, opset=17), out)
    t3 = time.perf_counter()
    _emit({"import_tf_s": t1 - t0, "keras_model_s": t2 - t1, "tf2onnx_s": t3 - t2})


def trained_like(compiled, seed: int = 0):
    """``compiled``'s (randomized) weights with BN statistics calibrated on a sample batch, as `netc check`
    draws them: each BN then emits unit-scale features, as in a trained model. Uncalibrated random statistics
    let activations decay layer by layer into denormals, which both routes then run about 3x slower."""
    from netc.ir.calibrate import calibrate_batchnorm
    return calibrate_batchnorm(compiled.graph, compiled.weights, seed)


def _feed(sess, batch: int, rng):
    import numpy as np
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in i.shape]
        feeds[i.name] = rng.uniform(0, 255, shape).astype(np.float32)
    return feeds


def ort_latency(batches: list[int], runs: int, threads: int, model: str, profile: bool = False) -> None:
    """One model per process: two sessions in one process would share its cores between their spinning
    thread pools and time each other's spinning, not the models."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="netc-bench-") as tmp:
        opts = _session_options(threads)
        opts.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath, load_external_data=False).graph
    ops: dict[str, int] = {}
    for n in graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    result = {"providers": sess.get_providers(), "threads": threads,
              "optimized": {"nodes": len(graph.node), "ops": ops}, "latency": {}}
    for batch in batches:
        feeds = _feed(sess, batch, rng)
        for _ in range(WARMUP):
            sess.run(None, feeds)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times.append(time.perf_counter() - t0)
        result["latency"][str(batch)] = times
    if profile:
        result["profile"] = _ort_profile(model, threads, rng)
    _emit(result)


def _session_options(threads: int):
    """ORT_ENABLE_ALL on ``threads`` intra-op threads, one inter-op thread, quiet."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def _ort_profile(model: str, threads: int, rng, runs: int = PROFILE_RUNS) -> dict[str, float]:
    """Milliseconds per run spent in each operator type at batch 1 (onnxruntime's own profiler)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="netc-bench-") as tmp:
        opts = _session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        feeds = _feed(sess, 1, rng)
        for _ in range(WARMUP + runs):
            sess.run(None, feeds)
        with open(sess.end_profiling()) as fh:
            events = json.load(fh)
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + e["dur"] / 1e3 / (WARMUP + runs)
    return per_op


def tf_latency(spec: str, batches: list[int], runs: int, threads: int) -> None:
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import netc

    model = netc.compile(spec).to_keras()
    fn = tf.function(lambda x: model(x, training=False))
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    result = {"tensorflow": tf.__version__, "threads": threads, "latency": {}}
    for batch in batches:
        x = tf.constant(rng.uniform(0, 255, (batch, *shape)).astype(np.float32))
        for _ in range(WARMUP):
            tf.nest.map_structure(lambda t: t.numpy(), fn(x))
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), fn(x))
            t.append(time.perf_counter() - t0)
        result["latency"][str(batch)] = {"median_s": statistics.median(t), "min_s": min(t), "runs": len(t)}
    _emit(result)


def main(argv: list[str]) -> None:
    kind, args = argv[0], argv[1:]
    if kind == "tf2onnx":
        tf2onnx_route(*args)
    elif kind == "ort":
        ort_latency([int(b) for b in args[0].split(",")], int(args[1]), int(args[2]), args[3],
                    profile=args[4:] == ["profile"])
    elif kind == "tf":
        tf_latency(args[0], [int(b) for b in args[1].split(",")], int(args[2]), int(args[3]))
    else:
        raise SystemExit(f"unknown worker {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
