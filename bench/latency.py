"""bench/run.py's latency part: interleaved A/B runs (bench/ab.py) of netc's ONNX against the Keras + tf2onnx
route, at 1 and 2 threads, batch 1 and 8, default and trained-like weights; the PReLU form study; the
report's tables. Paired per-round ratios are what counts on a shared machine: see bench/ab.py."""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
AB = str(HERE / "ab.py")
PRELU_MODELS = str(HERE / "prelu_models.py")
THREADS = (1, 2)
BATCHES = (1, 8)
#: PReLU study: slope range -> the forms compared (the chosen one first); 2 threads, batch 1 and 8
STUDY = {"random": ("chosen", "prelu", "where", "relu_min"),          # netc's random init: slopes in [0.05, 0.3]
         "1:2": ("chosen", "prelu", "where", "relu_min"),
         "-0.5:1.5": ("chosen", "where", "relu_min")}                  # mixed signs: the chosen form is PRelu
STUDY_THREADS = 2


def threads_for(cores: int) -> list[int]:
    return [t for t in THREADS if t <= cores] or [1]


def run_ab(run_child: Callable, py: str, models: list[str], threads: int, rounds: int, runs: int,
           batches: tuple[int, ...] = BATCHES, control: bool = False) -> dict:
    """bench/ab.py on ``models``; with ``control``, the first model again as a last one (a second session of
    the same file): its paired ratio to the first is the A/A noise of this run, what a tie looks like."""
    todo = models + models[:1] if control else models
    res = json.loads(run_child([py, AB, str(threads), str(rounds), str(runs), ",".join(map(str, batches)),
                                *todo])["stdout"].strip().splitlines()[-1])
    if control:
        res["control"] = len(models)
    return res


def aa_band(result: dict, batch: int) -> float | None:
    """The A/A noise of a run with a control: the largest relative deviation from 1 of the control's per-round
    paired ratios (a same-model ratio of 1.04 or 0.96 gives 0.04); None without a control."""
    if result.get("control") is None:
        return None
    return max(abs(x - 1.0) for x in paired(result, batch, result["control"], 0)["ratios"])


def prelu_variants(run_child: Callable, py: str, spec: str, tmp: str, slopes: str, forms: tuple[str, ...]) -> dict:
    res = run_child([py, PRELU_MODELS, spec, tmp, slopes, *forms])
    return json.loads(res["stdout"].strip().splitlines()[-1])


def paired(result: dict, batch: int, a: int, b: int) -> dict:
    """Medians of models ``a`` and ``b`` (seconds), their per-round ratios a / b and the median ratio."""
    entry = result["batches"][str(batch)]
    ratios = [x / y for x, y in zip(entry["round_medians"][a], entry["round_medians"][b])]
    return {"a_s": statistics.median(entry["samples"][a]), "b_s": statistics.median(entry["samples"][b]),
            "ratios": ratios, "ratio": statistics.median(ratios)}


def measured_batches(result: dict) -> list[int]:
    """The batch sizes an A/B result timed (a heavy spec: batch 1 only)."""
    return sorted(int(b) for b in result["batches"])


def peak(result: dict) -> float:
    """The best MatMul GFLOP/s seen between the rounds (bench/ab.py)."""
    return result["peak"]["gflops"]


# ----------------------------------------------------------------------------- report
def _ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms"


def _ratios(p: dict) -> str:
    return f"**{p['ratio']:.2f}** ({min(p['ratios']):.2f}-{max(p['ratios']):.2f})"


def ab_table(r: dict) -> list[str]:
    """The A/B table of one spec: ``r["ab"][weights][threads]`` results, models [netc, tf2onnx, (PRelu op)]."""
    macs = r["macs"]
    has_op = any(_compared(res) > 2 for per in r["ab"].values() for res in per.values())
    has_aa = any(res.get("control") is not None for per in r["ab"].values() for res in per.values())
    head = ("| weights | threads | batch | netc | Keras + tf2onnx | netc / tf2onnx, paired (range) | "
            "netc, % of peak | tf2onnx, % of peak |" + (" netc with ONNX PRelu / tf2onnx |" if has_op else "")
            + (" A/A: netc / netc again, paired (range) |" if has_aa else ""))
    L = [head, "|---" * (head.count("|") - 1) + "|"]
    for wkey, label in (("default", "default init"), ("random", "trained-like"),
                        ("deployed", "netc `--deploy` vs training form")):
        for threads, res in sorted(r["ab"].get(wkey, {}).items(), key=lambda kv: int(kv[0])):
            top = peak(res)
            for batch in measured_batches(res):
                p = paired(res, batch, 0, 1)
                flops = 2 * macs * batch
                row = (f"| {label} | {threads} | {batch} | {_ms(p['a_s'])} | {_ms(p['b_s'])} | {_ratios(p)} | "
                       f"{flops / p['a_s'] / 1e9 / top:.0%} | {flops / p['b_s'] / 1e9 / top:.0%} |")
                if has_op:
                    row += f" {_ratios(paired(res, batch, 2, 1))} |" if _compared(res) > 2 else " |"
                if has_aa:
                    row += f" {_ratios(paired(res, batch, res['control'], 0))} |" if "control" in res else " |"
                L.append(row)
    return L


def _compared(result: dict) -> int:
    """Models of an A/B result, the A/A control left out."""
    return len(result["models"]) - (result.get("control") is not None)


def peaks_line(r: dict) -> str:
    seen: dict[str, list[float]] = {}
    for per in r["ab"].values():
        for threads, res in per.items():
            seen.setdefault(threads, []).append(peak(res))
    return "; ".join(f"{t} thread{'s' if t != '1' else ''}: {max(v):.0f} GFLOP/s"
                     for t, v in sorted(seen.items()))


def study_table(r: dict) -> list[str]:
    """The PReLU study: per slope range, each form against ONNX's PRelu op (or the chosen form)."""
    L = ["| slopes | form | batch 1 | ratio to the chosen form, paired (range) | batch 8 | ratio (range) |",
         "|---|---|---|---|---|---|"]
    names = {"random": "[0.05, 0.3] (netc's random init)", "1:2": "[1, 2]", "-0.5:1.5": "[-0.5, 1.5]"}
    for slopes, entry in r["prelu_study"].items():
        res, forms = entry["ab"], entry["forms"]
        for i, form in enumerate(forms):
            label = f"{form} ({entry['chosen']})" if form == "chosen" else form
            cells = []
            for batch in BATCHES:
                p = paired(res, batch, i, 0)
                cells += [_ms(p["a_s"]), "1" if i == 0 else _ratios(p)]
            L.append(f"| {names.get(slopes, slopes)} | {label} | " + " | ".join(cells) + " |")
    return L


def targets(r: dict, goal: float | None) -> list[tuple[str, str, bool | str]]:
    """Every A/B case: netc / tf2onnx <= 1 (every spec), and <= ``goal`` where the spec has one. Against 1, a
    ratio above 1 by no more than the run's own A/A noise is a tie ("tie"): the models cannot be told apart."""
    out: list[tuple[str, str, bool | str]] = []
    for wkey, label in (("default", "default init"), ("random", "trained-like weights")):
        for threads, res in sorted(r["ab"].get(wkey, {}).items()):
            for batch in measured_batches(res):
                ratio = paired(res, batch, 0, 1)["ratio"]
                limit = goal if goal is not None else 1.0
                band = aa_band(res, batch)
                verdict: bool | str = ratio <= limit
                shown = f"{ratio:.2f}x"
                if band is not None:
                    shown += f" (A/A noise {band:.1%})"
                    if not verdict and goal is None and ratio <= 1.0 + band:
                        verdict = "tie"
                out.append((f"{r['spec']}: netc / tf2onnx latency <= {limit:g}x, {label}, {threads} thread(s), "
                            f"batch {batch}", shown, verdict))
    return out


def has_fusable_branches(graph) -> bool:
    """Whether `--deploy` fuses parallel branches (RepVGG blocks) in this graph, beyond what the default ONNX
    route folds: its deployed form is then timed against the training form through tf2onnx."""
    from netc.ir.passes import fold_batchnorm, fuse_branches, run_passes
    from netc.ir.weights import init_weights
    folded, w = run_passes(graph, init_weights(graph), [fold_batchnorm])
    fused, _ = run_passes(folded, w, [fuse_branches])
    return len(fused.nodes) < len(folded.nodes)


def file_gone(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)
