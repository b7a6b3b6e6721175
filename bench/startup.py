"""Fresh-process start-up of `netc build` and `netc summary`, against the floor of the libraries they need.

Each command runs as a new process (imports included), timed from outside: wall time from start to exit and
CPU time (user + sys) from ``os.wait4``. One warm-up run first writes the bytecode caches (the child's
environment drops PYTHONDONTWRITEBYTECODE), then ``-n`` counted runs; the median is quoted. The floor rows
import only what the command cannot do without (Python itself; numpy for the weights; click and lark for the
text form; the ONNX route needs no onnx package: netc/backends/onnx/wire.py encodes the protobuf), so the gap to them is netc's own import and work. On a shared machine quote the CPU
medians beside the wall times: another process's load shows in the wall time first.

    python bench/startup.py [-n 7] [--spec specs/openpose.net] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = "from netc.cli import main; main()"
TARGETS = {"build": 0.3, "summary": 0.2}   # seconds, whole process (issue 19)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of one run of ``cmd`` in a fresh process; its output is discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(cmd: list[str], n: int) -> dict:
    run_once(cmd)   # warm-up: bytecode caches, the grammar cache, the page cache
    runs = [run_once(cmd) for _ in range(n)]
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return {"wall_median_s": statistics.median(walls), "wall_min_s": min(walls), "wall_max_s": max(walls),
            "cpu_median_s": statistics.median(cpus), "runs": n}


def commands(spec: str, out: str) -> dict[str, list[str]]:
    return {
        "python (nothing imported)": [PY, "-c", "pass"],
        "floor of build: import numpy, click, lark": [PY, "-c", "import numpy, click, lark"],
        "(import onnx, which build no longer needs)": [PY, "-c", "import onnx"],
        "floor of summary: import click, lark": [PY, "-c", "import click, lark"],
        "netc imports of build": [PY, "-c", "import netc.cli, netc.compiler, netc.backends.onnx, numpy.random"],
        "netc imports of summary": [PY, "-c", "import netc.cli, netc.compiler, netc.semantic.summary"],
        "build": [PY, "-c", CLI, "build", spec, "-o", out],
        "summary": [PY, "-c", CLI, "summary", spec],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=7, help="counted runs per command (default 7)")
    ap.add_argument("--spec", default="specs/openpose.net")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {name: measure(cmd, args.n) for name, cmd in commands(args.spec, os.path.join(tmp, "x.onnx")).items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.spec}, {args.n} runs each after a warm-up, load average {load:.2f}, {os.cpu_count()} CPUs")
    print(f"{'command':52} {'wall median':>11} {'(min-max)':>15} {'cpu median':>10}  target")
    for name, r in rows.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else (f"<= {target:.1f} s: wall {'met' if r['wall_median_s'] <= target else 'not met'}"
                                             f", cpu {'met' if r['cpu_median_s'] <= target else 'not met'}")
        print(f"{name:52} {r['wall_median_s']:10.3f}s  ({r['wall_min_s']:.3f}-{r['wall_max_s']:.3f}) "
              f"{r['cpu_median_s']:9.3f}s  {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": args.spec, "load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
