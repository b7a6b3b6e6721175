"""Latency of netc's PyTorch module (eager, and torch.compile where it works on the CPU) against the
torchvision / timm model it was imported from, on the same weights, and of netc's ONNX on onnxruntime.

    python bench/torch_latency.py [--runs 20] [--size 224] [--compile] [--names resnet50 ...] [--out FILE]

Each reference (tests/refmodels/torch_models.py: random weights, calibrated BNs) is saved as a state_dict and
imported into specs/torchvision/<name>.net (`--weights model.pth`), so both modules compute the same function
(checked before timing: max|d| / max|ref| printed). Calls are interleaved: each round times one call of every
contender in turn, so a change of the machine's load hits all of them alike; medians of ``--runs`` rounds
after 3 warm-up rounds, batch 1, every framework on one thread. The load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def interleaved_ms(fns: dict, runs: int) -> dict[str, float]:
    """Median ms per contender, timing one call of each in turn per round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(3 + runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if i >= 3:
                times[k].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (inductor, CPU)")
    ap.add_argument("--names", nargs="*", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import triton  # noqa: F401 - before anything could import TensorFlow (docs/torch.md)
    import numpy as np
    import torch

    import netc
    from netc.deploy.providers import session
    from refmodels import torch_models
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    tmp = tempfile.mkdtemp(prefix="netc-torch-latency-")
    rows = []
    for name in args.names or list(torch_models.CASES):
        ref, _ = torch_models.reference(name, args.size)
        pth = os.path.join(tmp, f"{name}.pth")
        torch.save(ref.state_dict(), pth)
        with open(os.path.join(ROOT, "specs", "torchvision", f"{name}.net")) as f:
            text = f.read().replace("224x224x3", f"{args.size}x{args.size}x3")
        spec = os.path.join(tmp, f"{name}.net")
        with open(spec, "w") as f:
            f.write(text)
        model = netc.compile(spec, weights=pth)
        ours = model.to_torch().eval()
        sess = session(model.to_onnx(), "cpu", threads=1)
        x = torch.from_numpy(torch_models.input_cases(args.size)[2][1].transpose(0, 3, 1, 2).copy())
        feed = {sess.get_inputs()[0].name: x.numpy()}
        with torch.no_grad():
            want = ref(x).numpy()
            d_torch = float(np.abs(ours(x).numpy() - want).max() / np.abs(want).max())
            d_onnx = float(np.abs(sess.run(None, feed)[0] - want).max() / np.abs(want).max())
            fns = {"netc torch eager": lambda: ours(x), "reference eager": lambda: ref(x),
                   "netc onnx (ort)": lambda: sess.run(None, feed)}
            compile_s = {}
            if args.compile:
                for label, mod in (("netc torch.compile", ours), ("reference torch.compile", ref)):
                    try:
                        t0 = time.perf_counter()
                        fn = torch.compile(mod)
                        fn(x)
                        compile_s[label] = time.perf_counter() - t0
                        fns[label] = (lambda f: lambda: f(x))(fn)
                    except Exception as err:   # noqa: BLE001 - reported in the table
                        compile_s[label] = f"failed: {type(err).__name__}"
            row = {"name": name, "d torch": d_torch, "d onnx": d_onnx, **interleaved_ms(fns, args.runs),
                   **{f"{k} compile s": v for k, v in compile_s.items()}}
        rows.append(row)
        print(row, flush=True)
    load1 = os.getloadavg()
    cols = ["netc torch eager", "reference eager", "netc onnx (ort)", "netc torch.compile", "reference torch.compile"]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = ["| reference | " + " | ".join(f"{c} (ms)" for c in cols) + " | netc torch vs reference | netc onnx vs reference |",
             "|---|" + "---|" * (len(cols) + 2)]
    for r in rows:
        cells = [r.get(c, "") for c in cols]
        lines.append(f"| {r['name']} | " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in cells)
                     + f" | {r['d torch']:.1e} | {r['d onnx']:.1e} |")
    lines.append(f"\nload average before {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, after "
                 f"{load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}; size {args.size}, {args.runs} interleaved rounds")
    for r in rows:
        cs = {k: v for k, v in r.items() if k.endswith("compile s")}
        if cs:
            lines.append(f"{r['name']}: " + ", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}"
                                                  for k, v in cs.items()))
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
