"""`make bench`: netc's ONNX route against Keras + tf2onnx, in one run; writes docs/benchmarks.md.

For each spec in specs/ (a YAML twin of a `.net` file is skipped): wall time of `netc build` and of
`netc summary` in fresh processes, the user's route today (TensorFlow, Keras model, tf2onnx) in a fresh
process, node and Transpose counts of both ONNX files, onnxruntime and TensorFlow CPU latency at batch 1
and 8, and the peak memory of `netc build`. Then compile scaling on generated chains of 1k to 10k blocks.
Every process is timed from outside (start to exit, imports included); peak memory is the child's max RSS
(``os.wait4``). ``--quick`` runs fewer repetitions (a smoke test; the numbers are not the report's).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import latency

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # this tree's netc, whatever the virtualenv installed
PY = sys.executable
WORKERS = str(ROOT / "bench" / "workers.py")
BATCHES = (1, 8)
CHAIN_SIZES = (1000, 5000, 10000)
CHAIN_BLOCKS = ("cn_bn_k3_s1_c16_nre", "ir_k3_s1_e2_c16_se4_nhs")
TF2ONNX_BUDGET_S = 150.0   # stop repeating the slow route once this much time is spent on one spec
ORT_ROUNDS = 6             # onnxruntime latency: alternating rounds of one process per model
HEAVY_GMACS = 5.0          # a spec above this many GMACs per image is timed at batch 1 only, fewer times
VERY_HEAVY_GMACS = 50.0    # ... and above this at the machine's full thread count only
HEAVY_TF_RUNS = 5
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",   # children import this tree's netc
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# ----------------------------------------------------------------------------- processes
def netc_cmd() -> list[str]:
    script = Path(PY).parent / "netc"
    return [str(script)] if script.exists() else [PY, "-m", "netc.cli"]


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd`` to completion: wall seconds, the child's peak RSS (bytes), exit code, output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env={**ENV, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        res = {"wall_s": wall, "maxrss_bytes": usage.ru_maxrss * 1024, "rc": proc.returncode,
               "stdout": out.read().decode("utf-8", "replace"), "stderr": err.read().decode("utf-8", "replace")}
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res['rc']}):\n{res['stderr'][-3000:]}")
    return res


def worker(*args: str, env: dict | None = None) -> dict:
    res = run_child([PY, WORKERS, *args], env=env)
    return {**json.loads(res["stdout"].strip().splitlines()[-1]), "wall_s": res["wall_s"],
            "maxrss_bytes": res["maxrss_bytes"]}


def timed(cmd: list[str], n: int) -> dict:
    runs = [run_child(cmd) for _ in range(n)]
    walls = [r["wall_s"] for r in runs]
    return {"median_s": statistics.median(walls), "walls_s": walls, "maxrss_bytes": max(r["maxrss_bytes"] for r in runs),
            "runs": n, "stdout": runs[-1]["stdout"]}


# ----------------------------------------------------------------------------- facts
def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "memory": mem, "os": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    out = {}
    for dist in ("netc", "numpy", "onnx", "onnxruntime", "tensorflow-cpu", "keras", "tf2onnx", "protobuf", "lark"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def onnx_counts(path: str) -> dict:
    import onnx
    graph = onnx.load(path, load_external_data=False).graph
    ops: dict[str, int] = {}
    for n in graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {"nodes": len(graph.node), "transposes": ops.get("Transpose", 0), "ops": ops,
            "initializers": len(graph.initializer), "bytes": os.path.getsize(path)}


def specs() -> list[Path]:
    """Every spec in specs/, `.net` first; a YAML file whose `.net` twin exists is skipped."""
    files = sorted(p for p in (ROOT / "specs").iterdir() if p.suffix in (".net", ".yaml", ".yml"))
    nets = {p.stem for p in files if p.suffix == ".net"}
    return [p for p in files if p.suffix == ".net" or p.stem not in nets]


def chain_spec(n: int) -> str:
    """An input 32x32x16 and ``n`` blocks cycling through CHAIN_BLOCKS; every 10th block labelled and
    every 50th a `cnct:` of the last two labels (channels 32, brought back to 16 by the next block)."""
    lines = [f"// generated: a chain of {n} blocks", "input img# 32x32x16", "", "chain#:", "    select:img#"]
    labels: list[str] = []
    for k in range(n):
        if k % 50 == 49 and len(labels) >= 2:
            lines.append(f"    cnct:{labels[-2]}:{labels[-1]}")
        elif k % 10 == 9:
            labels.append(f"b{k}#")
            lines.append(f"    {labels[-1]}{CHAIN_BLOCKS[(k // 10) % 2]}")
        else:
            lines.append(f"    {CHAIN_BLOCKS[k % 2]}")
    lines += ["", "output chain#", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- one spec
@dataclass(frozen=True)
class Plan:
    """How much of one spec to time: SpineNet-190 at 640 px (155 GMACs) takes seconds per image, so a heavy
    spec is timed at batch 1 only, once per tf2onnx conversion, with fewer runs."""
    batches: tuple[int, ...]
    threads: tuple[int, ...]
    repeat: int          # fresh-process timings of `netc build` / the tf2onnx route
    tf_runs: int         # TensorFlow latency runs
    ort_runs: int        # the per-process onnxruntime latency (with the profile)
    ab_rounds: int
    ab_runs: int
    env: dict            # warm-up and profile runs of bench/workers.py

    @property
    def heavy(self) -> bool:
        return self.batches == (1,)


def plan_for(macs: int, a: argparse.Namespace, cores: int) -> Plan:
    threads = tuple(latency.threads_for(cores))
    if macs <= HEAVY_GMACS * 1e9:
        return Plan(BATCHES, threads, a.repeat, a.runs, 3, a.ab_rounds, a.ab_runs, {})
    if macs > VERY_HEAVY_GMACS * 1e9:
        threads = threads[-1:]
    return Plan((1,), threads, 1, min(a.runs, HEAVY_TF_RUNS), 2, a.ab_rounds, 1,
                {"NETC_BENCH_WARMUP": "2", "NETC_BENCH_PROFILE_RUNS": "3"})


def bench_spec(spec: Path, tmp: str, a: argparse.Namespace, cores: int, log) -> dict:
    rel = str(spec.relative_to(ROOT))
    name = spec.stem
    netc_onnx, t2o_onnx = os.path.join(tmp, f"{name}.netc.onnx"), os.path.join(tmp, f"{name}.tf2onnx.onnx")
    r: dict = {"spec": rel}
    summary_json = json.loads(run_child(netc_cmd() + ["summary", rel, "--json"])["stdout"])
    r["params"], r["macs"] = summary_json["params"], summary_json["macs"]
    plan = plan_for(r["macs"], a, cores)
    r["plan"] = {"batches": list(plan.batches), "threads": list(plan.threads), "tf_runs": plan.tf_runs,
                 "profile_runs": int(plan.env.get("NETC_BENCH_PROFILE_RUNS", 10)) + int(plan.env.get(
                     "NETC_BENCH_WARMUP", 5)), "ab_rounds": plan.ab_rounds, "ab_runs": plan.ab_runs}

    log(f"{rel}: netc summary x{a.repeat}")
    r["summary"] = timed(netc_cmd() + ["summary", rel], a.repeat)
    log(f"{rel}: netc build x{plan.repeat}")
    r["build"] = timed(netc_cmd() + ["build", rel, "-o", netc_onnx], plan.repeat)

    log(f"{rel}: TensorFlow + Keras + tf2onnx (up to x{plan.repeat})")
    runs: list[dict] = []
    try:
        while len(runs) < plan.repeat and (not runs or sum(x["wall_s"] for x in runs) < TF2ONNX_BUDGET_S):
            runs.append(worker("tf2onnx", rel, t2o_onnx))
    except RuntimeError as err:   # e.g. an op tf2onnx cannot convert: report netc's side alone
        r["tf2onnx_error"] = str(err).strip().splitlines()[-1]
        log(f"{rel}: the tf2onnx route failed: {r['tf2onnx_error']}")
    if runs:
        walls = [x["wall_s"] for x in runs]
        r["tf2onnx"] = {"median_s": statistics.median(walls), "walls_s": walls, "runs": len(runs),
                        "phases": {k: statistics.median(x[k] for x in runs)
                                   for k in ("import_tf_s", "keras_model_s", "tf2onnx_s")}}
    models = [netc_onnx] + ([t2o_onnx] if runs else [])
    r["counts"] = {k: onnx_counts(m) for k, m in zip(("netc", "tf2onnx"), models)}

    log(f"{rel}: onnxruntime graph sizes and profile")
    r["ort"] = ort_latency(models, plan, cores, profile=True)
    has_prelu = any(n.prim.value == "prelu" for n in _graph(rel).nodes)
    sets = {"default": models}
    if runs:   # trained-like weights: default ones repeat (all-zero PReLU alphas...), which tf2onnx dedupes
        rand = [os.path.join(tmp, f"{name}.{k}.random.onnx") for k in ("netc", "tf2onnx")]
        log(f"{rel}: the same with trained-like (random) weights")
        worker("tf2onnx", rel, rand[1], rand[0])
        r["counts_random"] = {k: onnx_counts(m) for k, m in zip(("netc", "tf2onnx"), rand)}
        r["ort_random"] = ort_latency(rand, plan, cores, profile=True)
        sets["random"] = rand
        if has_prelu:   # the same weights with ONNX's PRelu op (netc before issue 13), as a third model
            for key, slopes in (("default", "default"), ("random", "random")):
                sets[key] = sets[key] + [latency.prelu_variants(run_child, PY, rel, tmp, slopes, ("prelu",))["prelu"]]
        r["ab"] = {}
        for key, ms in sets.items():
            for t in plan.threads:
                log(f"{rel}: A/B latency, {key} weights, {t} thread(s), {plan.ab_rounds} rounds x {plan.ab_runs} runs")
                r["ab"].setdefault(key, {})[str(t)] = latency.run_ab(run_child, PY, ms, t, plan.ab_rounds,
                                                                     plan.ab_runs, plan.batches, control=True)
        if latency.has_fusable_branches(_graph(rel)):   # RepVGG: deployed form vs training form via tf2onnx
            deployed = os.path.join(tmp, f"{name}.deploy.onnx")
            run_child(netc_cmd() + ["build", str(spec), "--deploy", "-o", deployed])
            r["ab"]["deployed"] = {str(t): latency.run_ab(run_child, PY, [deployed, t2o_onnx], t, plan.ab_rounds,
                                                          plan.ab_runs, plan.batches, control=True)
                                   for t in plan.threads}
    if has_prelu and not a.quick and not plan.heavy:
        r["prelu_study"] = {}
        for slopes, forms in latency.STUDY.items():
            log(f"{rel}: PReLU forms, slopes {slopes}: {', '.join(forms)}")
            paths = latency.prelu_variants(run_child, PY, rel, tmp, slopes, forms)
            chosen = _chosen_form(paths["chosen"])
            res = latency.run_ab(run_child, PY, [paths[f] for f in forms], latency.STUDY_THREADS, a.ab_rounds,
                                 a.ab_runs)
            r["prelu_study"][slopes] = {"forms": list(forms), "chosen": chosen, "ab": res}
            for path in paths.values():
                latency.file_gone(path)
    log(f"{rel}: TensorFlow latency")
    r["tf"] = worker("tf", rel, ",".join(map(str, plan.batches)), str(plan.tf_runs), str(cores), env=plan.env)
    return r


def _graph(rel: str):
    from netc.compiler import check_spec
    return check_spec(str(ROOT / rel)).graph


def _chosen_form(path: str) -> str:
    """Which PReLU form a netc ONNX file uses (the ops it has)."""
    ops = onnx_counts(path)["ops"]
    for op, form in (("PRelu", "prelu"), ("Max", "max"), ("Min", "min"), ("LeakyRelu", "leaky")):
        if ops.get(op):
            return form
    return "?"


def ort_latency(models: list[str], plan: Plan, cores: int, profile: bool = False) -> dict:
    """Each model in its own process (see bench/workers.py), in ORT_ROUNDS alternating rounds so that
    drift of the machine's load hits both alike; the samples of all rounds pooled."""
    out: dict = {}
    runs = plan.ort_runs
    per_round = -(-runs // ORT_ROUNDS) if runs >= 2 * ORT_ROUNDS else runs
    for i in range(ORT_ROUNDS if runs >= 2 * ORT_ROUNDS else 1):
        for key, model in zip(("netc", "tf2onnx"), models):
            res = worker("ort", ",".join(map(str, plan.batches)), str(per_round), str(cores), model,
                         *(["profile"] if profile and i == 0 else []), env=plan.env)
            entry = out.setdefault(key, {"optimized": res["optimized"], "samples": {}})
            if "profile" in res:
                entry["profile"] = res["profile"]
            out["providers"], out["threads"] = res["providers"], res["threads"]
            for batch, times in res["latency"].items():
                entry["samples"].setdefault(batch, []).extend(times)
    for key in ("netc", "tf2onnx"):
        if key in out:
            out[key]["latency"] = {b: {"median_s": statistics.median(t), "min_s": min(t), "runs": len(t)}
                                   for b, t in out[key]["samples"].items()}
    return out


def bench_chains(tmp: str, a: argparse.Namespace, log) -> list[dict]:
    rows = []
    for n in a.chains:
        path = os.path.join(tmp, f"chain{n}.net")
        Path(path).write_text(chain_spec(n))
        log(f"chain of {n} blocks: netc build x{a.repeat}")
        limit = ["--limit", "nodes=1000000"]   # past the default 50,000 IR nodes
        res = timed(netc_cmd() + ["build", path, "-o", os.path.join(tmp, f"chain{n}.onnx"), *limit], a.repeat)
        summary = json.loads(run_child(netc_cmd() + ["summary", path, "--json", *limit])["stdout"])
        rows.append({"blocks": n, "wall_s": res["median_s"], "walls_s": res["walls_s"],
                     "us_per_block": res["median_s"] / n * 1e6,
                     "maxrss_bytes": res["maxrss_bytes"], "params": summary["params"],
                     "onnx_nodes": onnx_counts(os.path.join(tmp, f"chain{n}.onnx"))["nodes"]})
    return rows


BIG_SPEC = "input img# 1x1x4\n\nbig#:\n    select:img#\n    cn_k3_c4096\n    cn_r4_k3_c4096\n\noutput big#\n"
_LOAD_BIG = ("import sys, time, numpy as np, onnxruntime as ort; t = time.perf_counter(); "
             "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
             "y = s.run(None, {'img': np.ones((1, 4, 1, 1), np.float32)})[0]; "
             "print(time.perf_counter() - t, bool(np.isfinite(y).all()))")


def bench_big(tmp: str, log) -> dict:
    """A spec of 2.25 GiB of weights (tests/test_external_data.py): `netc build` (external data chosen by
    itself) wall time and peak memory, then a fresh process loading and running it on onnxruntime."""
    spec, out = os.path.join(tmp, "big.net"), os.path.join(tmp, "big.onnx")
    Path(spec).write_text(BIG_SPEC)
    log("a model past 2 GiB: netc build, then onnxruntime")
    build = run_child(netc_cmd() + ["build", spec, "-o", out, "--limit", "params=700000000"])
    summary = json.loads(run_child(netc_cmd() + ["summary", spec, "--json", "--limit", "params=700000000"])["stdout"])
    load = run_child([PY, "-c", _LOAD_BIG, out])
    seconds, finite = load["stdout"].split()
    res = {"params": summary["params"], "weight_bytes": 4 * summary["params"], "build_s": build["wall_s"],
           "build_maxrss_bytes": build["maxrss_bytes"], "onnx_bytes": os.path.getsize(out),
           "data_bytes": os.path.getsize(out + ".data"), "ort_load_run_s": float(seconds),
           "ort_maxrss_bytes": load["maxrss_bytes"], "finite": finite == "True"}
    for path in (out, out + ".data"):
        os.unlink(path)
    return res


def _big_section(big: dict, targets: list) -> list[str]:
    limit = 2 * big["weight_bytes"] + 150 * 2**20
    targets.append((f"model past 2 GiB ({big['weight_bytes'] / 2**30:.2f} GiB of weights) builds with peak memory "
                    f"<= 2 x weights + 150 MiB ({_mb(limit)}) and runs on onnxruntime",
                    f"{_mb(big['build_maxrss_bytes'])}, runs: {'yes' if big['finite'] else 'no'}",
                    big["build_maxrss_bytes"] <= limit and big["finite"]))
    return ["## A model past 2 GiB", "",
            "`input img# 1x1x4`, then `cn_k3_c4096` and `cn_r4_k3_c4096`: " + f"{big['params']:,} parameters, "
            f"{big['weight_bytes'] / 2**30:.2f} GiB of float32 weights. `netc build big.net -o big.onnx` (no flag: "
            "past 2 GiB netc writes ONNX external data by itself, `big.onnx.data`, streamed as the model is made):",
            "", "| | |", "|---|---|",
            f"| wall time (fresh process) | {big['build_s']:.1f} s |",
            f"| peak memory (max RSS) | {_mb(big['build_maxrss_bytes'])} (bound {_mb(limit)}) |",
            f"| files | big.onnx {big['onnx_bytes']:,} bytes, big.onnx.data {big['data_bytes']:,} bytes |",
            f"| onnxruntime: load and one run, fresh process | {big['ort_load_run_s']:.1f} s, peak memory "
            f"{_mb(big['ort_maxrss_bytes'])}, outputs finite: {big['finite']} |",
            "", "No single tensor may reach 2 GiB even so: onnxruntime 1.31's NCHWc layout pass (ORT_ENABLE_ALL) "
            "copies a conv kernel into a new initializer that it must hold inside the graph, and refuses one of "
            "2 GiB or more (a 8192 -> 8192 3x3 kernel, 2.25 GiB, fails there; it loads with ORT_ENABLE_EXTENDED).",
            ""]


# ----------------------------------------------------------------------------- report
def _ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms"


def _mb(b: float) -> str:
    return f"{b / 2**20:.0f} MiB"


def _x(v: float) -> str:
    return f"{v:.2f}x"


def _ok(flag: bool | str) -> str:
    if flag == "tie":
        return "**tie** (within the A/A noise)"
    return "**met**" if flag else "**not met**"


def _spec_section(r: dict, targets: list) -> list[str]:
    """The table of one spec (tf2onnx columns say "failed" where that route failed); appends its targets."""
    spec, b, c, tf = r["spec"], r["build"], r["counts"], r["tf"]
    t, on, ot = r.get("tf2onnx"), r["ort"]["netc"], r["ort"].get("tf2onnx")
    ct = c.get("tf2onnx")
    failed = f"failed: {r.get('tf2onnx_error', '')}"
    weights = r["params"] * 4
    route = (f"{t['median_s']:.2f} s (n={t['runs']}; TF import {t['phases']['import_tf_s']:.1f} s, Keras model "
             f"{t['phases']['keras_model_s']:.1f} s, tf2onnx {t['phases']['tf2onnx_s']:.1f} s)") if t else failed
    L = [f"## {spec}", "",
         f"{r['params']:,} parameters ({_mb(weights)} of float32 weights), {r['macs'] / 1e9:.3f} GMACs per image.",
         "",
         "| | netc | Keras + tf2onnx | ratio |", "|---|---|---|---|",
         f"| spec -> ONNX, fresh process (median of n) | {b['median_s']:.2f} s (n={b['runs']}) | {route} | "
         + (f"tf2onnx / netc = {_x(t['median_s'] / b['median_s'])}" if t else "") + " |",
         f"| `netc summary`, fresh process (median of {r['summary']['runs']}) | {r['summary']['median_s']:.3f} s"
         " | | |",
         f"| ONNX nodes | {c['netc']['nodes']} | {ct['nodes'] if ct else '-'} | |",
         f"| Transpose nodes | {c['netc']['transposes']} | {ct['transposes'] if ct else '-'} | |",
         f"| nodes after onnxruntime's optimizations (ORT_ENABLE_ALL) | {on['optimized']['nodes']} | "
         f"{ot['optimized']['nodes'] if ot else '-'} | |",
         f"| ONNX file size, default initialisation | {_mb(c['netc']['bytes'])} | "
         f"{_mb(ct['bytes']) if ct else '-'} | |"]
    if "counts_random" in r:
        cr = r["counts_random"]
        L.append(f"| ONNX file size, trained-like weights | {_mb(cr['netc']['bytes'])} | {_mb(cr['tf2onnx']['bytes'])} | |")
    L.append(f"| peak memory (max RSS) of `netc build` | {_mb(b['maxrss_bytes'])} | | |")
    ab_all = r.get("ab", {}).get("default", {}).get(str(tf["threads"]))
    for key in tf["latency"]:
        batch = int(key)
        flops = 2 * r["macs"] * batch
        ltf = tf["latency"][key]["median_s"]
        ln = latency.paired(ab_all, batch, 0, 1)["a_s"] if ab_all else on["latency"][key]["median_s"]
        L.append(f"| TensorFlow latency of the Keras model, batch {batch}, {tf['threads']} threads (median of "
                 f"{tf['latency'][key]['runs']}) | | {_ms(ltf)} ({flops / ltf / 1e9:.1f} GFLOP/s) | "
                 f"netc on onnxruntime / TF = {ln / ltf:.2f} |")
    for key, label in (("ort", "default initialisation"), ("ort_random", "trained-like weights")):
        prof = {k: r[key][k]["profile"] for k in ("netc", "tf2onnx") if "profile" in r.get(key, {}).get(k, {})}
        if not prof:
            continue
        ops = sorted({op for p in prof.values() for op in p}, key=lambda op: -max(p.get(op, 0.0) for p in prof.values()))
        L += ["", f"onnxruntime time per operator type, batch 1, {label} (its profiler, "
              f"{r.get('plan', {}).get('profile_runs', 15)} runs, "
              f"{r[key]['threads']} threads; ms per run; one process per model, one after the other, so compare "
              "shares within a column rather than times across columns):", "", "| operator | "
              + " | ".join(prof) + " |",
              "|---|" + "---|" * len(prof)]
        L += [f"| {op} | " + " | ".join(f"{p.get(op, 0.0):.2f}" for p in prof.values()) + " |" for op in ops]
        L.append("| total | " + " | ".join(f"{sum(p.values()):.2f}" for p in prof.values()) + " |")
    if "ab" in r:
        L += ["", "onnxruntime CPU latency, interleaved A/B in one process (bench/ab.py): median latency, the median "
              "of the per-round paired ratios netc / tf2onnx (lowest-highest round), and the share of the "
              f"machine's measured fp32 peak ({latency.peaks_line(r)}; GFLOP/s = 2 x MACs x batch / latency):", ""]
        L += latency.ab_table(r)
    if "prelu_study" in r:
        L += ["", f"PReLU forms (same weights but the slopes, {latency.STUDY_THREADS} threads, interleaved A/B): "
              "`chosen` is what netc emits for these slopes (netc/backends/onnx/prelu.py, prelu_form); `prelu` "
              "ONNX's PRelu op; `where` Where(x < 0, x * s, x); `relu_min` Relu(x) + s * Min(x, 0):", ""]
        L += latency.study_table(r)
        L += ["", "Exactness: each chosen form computes PRelu bit for bit on onnxruntime (tests/test_prelu_forms.py: "
              "signed zeros, infinities, NaN, denormals; per-element and per-channel slopes inside and outside "
              "[0, 1]). `where` and `relu_min` are equal in value but return +0 where PRelu returns -0, and are "
              "slower, so slopes of mixed sign (or on both sides of 1, or a zero among positive slopes) keep "
              "ONNX's PRelu op. Why trained-like slopes stay above 0.8x of tf2onnx: a per-element slope is a "
              "constant (C, H, W) operand, and onnxruntime's NCHWc layout keeps neither a Mul by a constant nor "
              "Max blocked, so each PReLU between two convs costs a reorder pair and two element-wise passes "
              "(the trained-like profile: Mul, Max, Reorder*), as tf2onnx's Relu/Neg/Mul/Add form does; only a "
              "uniform slope becomes LeakyRelu and fuses into the Conv (default initialisation). On this CPU "
              "ONNX's PRelu kernel is nearly as fast as Max (the `prelu` rows), so the per-node form moves "
              "little; what remains of the ratio is what the rest of netc's graph (folded BNs, no Transposes) "
              "saves. Going further needs onnxruntime's internal blocked ops (not standard ONNX).", ""]
    L += ["", "ONNX ops, netc: " + ", ".join(f"{k} {n}" for k, n in sorted(c["netc"]["ops"].items())) + "."]
    if ct:
        L.append("ONNX ops, tf2onnx: " + ", ".join(f"{k} {n}" for k, n in sorted(ct["ops"].items())) + ".")
    L.append("")
    if "openpose" in spec:
        speedup = t["median_s"] / b["median_s"] if t else 0.0
        targets.append((f"{spec}: spec -> ONNX >= 15x faster than Keras + tf2onnx",
                        _x(speedup) if t else failed, speedup >= 15))
    targets.append((f"{spec}: `netc summary` < 0.5 s", f"{r['summary']['median_s']:.3f} s",
                    r["summary"]["median_s"] < 0.5))
    if "ab" in r:
        targets.extend(latency.targets({**r, "ab": {k: v for k, v in r["ab"].items() if k != "deployed"}},
                                       0.8 if "openpose" in spec else None))
    targets.append((f"{spec}: 0 Transpose nodes in netc's graph", str(c["netc"]["transposes"]),
                    c["netc"]["transposes"] == 0))
    limit = 2 * weights + 150 * 2**20
    targets.append((f"{spec}: peak memory of `netc build` <= 2 x weights + 150 MiB ({_mb(limit)})",
                    _mb(b["maxrss_bytes"]), b["maxrss_bytes"] <= limit))
    return L


def report(data: dict) -> str:
    m, v = data["machine"], data["versions"]
    L = ["# Benchmarks", "",
         f"Generated by `make bench` (bench/run.py) on {data['date']}, in {data['total_s']:.0f} s"
         + (" (`--quick`: fewer repetitions)" if data["quick"] else "") + ".", "",
         "| machine | |", "|---|---|",
         f"| CPU | {m['cpu']} |", f"| cores | {m['cores']} |", f"| memory | {m['memory']} |",
         f"| OS | {m['os']} |", f"| Python | {m['python']} |",
         "| load average (1, 5, 15 min) before / after | " + " / ".join(
             ", ".join(f"{x:.2f}" for x in m[k]) for k in ("load_before", "load_after")) + " |", "",
         "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", ""]
    targets = []
    for r in data["specs"]:
        L += _spec_section(r, targets)
    L += ["## Compile scaling", "",
          "Generated chains: input 32x32x16, then N blocks alternating `" + "`, `".join(CHAIN_BLOCKS)
          + "`, every 10th labelled, every 50th a `cnct:` of the last two labels; `netc build chain.net -o "
          f"chain.onnx` in a fresh process (imports included), median of {data['repeat']}. The marginal cost "
          "is the time per block added since the previous size (start-up excluded).", "",
          "| blocks | ONNX nodes | parameters | wall (median) | runs | per block | marginal per block | peak memory |",
          "|---|---|---|---|---|---|---|---|"]
    prev = None
    for ch in data["chains"]:
        marginal = (f"{(ch['wall_s'] - prev['wall_s']) / (ch['blocks'] - prev['blocks']) * 1e6:.0f} us"
                    if prev else "")
        L.append(f"| {ch['blocks']:,} | {ch['onnx_nodes']:,} | {ch['params']:,} | {ch['wall_s']:.2f} s | "
                 + ", ".join(f"{w:.2f}" for w in ch["walls_s"]) + f" s | {ch['us_per_block']:.0f} us | {marginal} | "
                 f"{_mb(ch['maxrss_bytes'])} |")
        prev = ch
    if data.get("big"):
        L += [""] + _big_section(data["big"], targets)
    big = [ch for ch in data["chains"] if ch["blocks"] == 10000]
    if big:
        targets.append(("10,000-block chain compiles in <= 10 s", f"{big[0]['wall_s']:.2f} s", big[0]["wall_s"] <= 10))
    L += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    L += [f"| {name} | {val} | {_ok(ok)} |" for name, val, ok in targets]
    L += ["", "## Method", "",
          "- Each timed command runs in a fresh process, timed from outside from start to exit (Python start-up "
          "and imports included). Peak memory is the child's max RSS from `os.wait4`.",
          "- Keras + tf2onnx is `bench/workers.py tf2onnx`: import TensorFlow, build the Keras model "
          "(`netc.compile(spec).to_keras()`, standing in for hand-written Keras code), "
          "`tf2onnx.convert.from_keras` at opset 17 (`netc/backends/tf2onnx_route.py`), save; repeated up to "
          f"{data['repeat']} times while under {TF2ONNX_BUDGET_S:.0f} s in total (n in the table).",
          "- onnxruntime latency (`bench/ab.py`): random inputs in 0..255, CPUExecutionProvider, ORT_ENABLE_ALL; "
          "netc's ONNX and tf2onnx's (and, for specs with PReLU, netc's with ONNX's PRelu op, as netc wrote it "
          "before) are sessions of ONE process sharing onnxruntime's global thread pool (1 or 2 intra-op "
          "threads), so no idle pool spins while the other model runs; batch 1 and 8; "
          f"{data.get('ab_rounds', '?')} rounds, each timing every model {data.get('ab_runs', '?')} times in an "
          "order rotated per round (after 3 warm-up runs). The ratio of two models' medians within a round is "
          "a paired ratio: the load of the shared machine drifts between rounds but hits both models of a round "
          "alike, so the tables give the median of the paired ratios and their range; the latencies are "
          "medians of all samples. Each A/B run also times netc's model a second time, as a second session of "
          "the same file (the A/A control): its paired ratio to the first is what two indistinguishable models "
          "measure in that run, so a netc / tf2onnx ratio above 1 by no more than the A/A deviation is a "
          "**tie**, not a loss (the target `<= 1x` reads \"not slower, within the measurement\"). Default initialisation (what `netc build` writes) has all-zero PReLU "
          "slopes and unit BN statistics, so both routes are also timed with trained-like weights (every "
          "weight drawn at random, PReLU slopes in [0.05, 0.3], BN statistics calibrated on a sample batch as "
          "`netc check` draws them, so that activations stay of order one instead of decaying into denormals; "
          "the same weights for both routes).",
          f"- A spec past {HEAVY_GMACS:g} GMACs per image (SpineNet at 640 px) takes a second or more per image on "
          "this machine: it is timed at batch 1 only, the tf2onnx route converted once, 1 run per model and "
          f"round, TensorFlow {HEAVY_TF_RUNS} runs, and past {VERY_HEAVY_GMACS:g} GMACs at the full thread count "
          "only; the PReLU study is skipped (SpineNet has no PReLU).",
          "- Fraction of peak: GFLOP/s = 2 x MACs (from `netc summary`) x batch / latency, divided by the "
          "machine's fp32 peak measured in the same process and thread pool: a float32 MatMul of 1024 x 1024 "
          "matrices, one per thread, timed 4 times before the first round and after every round, the best run "
          "(MLAS's SGEMM, the fastest float32 loop onnxruntime has here; on a shared machine the best run is "
          "the least disturbed one). On an overloaded machine the peak and the latencies are measured at "
          "different moments, so a share above 100% or a 2-thread run slower than a 1-thread one says the "
          "machine was contended; the paired ratios are what counts.",
          "- TensorFlow: a `tf.function` calling `model(x, training=False)`, intra-op threads = cores, output "
          "copied to numpy, in its own process.",
          "- netc's ONNX is NCHW (its input is NCHW); tf2onnx's keeps Keras' NHWC input.", ""]
    return "\n".join(L)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 repetition, 10 latency runs, chains of 1000 blocks only")
    p.add_argument("--no-chains", action="store_true", help="Skip the compile-scaling chains.")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--json", default=None, help="Also write the raw measurements here.")
    p.add_argument("--spec", action="append", default=None, help="Bench only these specs (repeatable).")
    p.add_argument("--from-json", default=None, help="Only write the report again from a --json file.")
    p.add_argument("--quiet", action="store_true", help="No progress line on stderr (shown only on a terminal).")
    p.add_argument("--big", action=argparse.BooleanOptionalAction, default=None,
                   help="Build and run a model past 2 GiB (default: yes, except with --quick or --from-json).")
    a = p.parse_args()
    a.repeat, a.runs = (1, 10) if a.quick else (3, 50)
    a.ab_rounds, a.ab_runs = (2, 2) if a.quick else (5, 3)
    if a.from_json:   # the report again; with --big, the past-2-GiB part measured now and added
        data = json.loads(Path(a.from_json).read_text())
        if a.big:
            with tempfile.TemporaryDirectory(prefix="netc-bench-") as tmp:
                data["big"] = bench_big(tmp, print)
            Path(a.from_json).write_text(json.dumps(data, indent=1, default=str))
        Path(a.out).write_text(report(data))
        return
    a.chains = () if a.no_chains else (1000,) if a.quick else CHAIN_SIZES
    t0 = time.perf_counter()
    from netc import progress
    with progress.shown(a.quiet):
        _run(a, t0, progress)


def _run(a: argparse.Namespace, t0: float, progress) -> None:
    todo = [ROOT / s for s in a.spec] if a.spec else specs()
    at = {"spec": ""}

    def log(msg: str) -> None:   # the progress line on a terminal: what runs now, which spec of how many
        progress.step(f"{at['spec']}{msg}")

    mach = machine()
    mach["load_before"] = os.getloadavg()
    data = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "machine": mach,
            "versions": versions(), "quick": a.quick, "repeat": a.repeat, "ab_rounds": a.ab_rounds,
            "ab_runs": a.ab_runs, "specs": [], "chains": []}
    with tempfile.TemporaryDirectory(prefix="netc-bench-") as tmp:
        for i, spec in enumerate(todo, 1):
            at["spec"] = f"spec {i} of {len(todo)}: "
            data["specs"].append(bench_spec(spec.resolve(), tmp, a, mach["cores"], log))
        at["spec"] = ""
        data["chains"] = bench_chains(tmp, a, log)
        if a.big if a.big is not None else not a.quick:
            data["big"] = bench_big(tmp, log)
    data["total_s"] = time.perf_counter() - t0
    mach["load_after"] = os.getloadavg()
    text = report(data)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps(data, indent=1, default=str))
    progress.clear()
    print(f"wrote {a.out} in {time.perf_counter() - t0:.0f} s")
    print(text[text.index("## Targets"):])


if __name__ == "__main__":
    main()
