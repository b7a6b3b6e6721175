"""Latency of netc's PyTorch module (eager, and torch.compile where it works on the CPU) against the
torchvision / timm model of the same architecture, and of netc's ONNX on onnxruntime, batch 1, one thread.

    python bench/torch_latency.py [--runs 20] [--compile] [--out docs/benchmarks-torch.md]

The torchvision / timm models run with their own random initialisation (weights=None): latency does not
depend on the values, and netc cannot yet import their weights (issue 22). Medians of ``--runs`` timed calls
after 3 warm-up calls, all frameworks limited to one thread (the CI machine has 2 shared cores).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CASES = [  # (netc spec, reference constructor: (module, name))
    ("specs/mobilenet_v3_large.net", ("torchvision.models", "mobilenet_v3_large")),
    ("specs/mobilenet_v2_140.net", ("torchvision.models", "mobilenet_v2")),
    ("specs/resnet50.net", ("torchvision.models", "resnet50")),
    ("specs/repvgg_a0.net", ("timm", "repvgg_a0")),
]


def median_ms(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def reference(module: str, name: str):
    if module == "timm":
        import timm
        return timm.create_model(name, pretrained=False)
    import torchvision.models as tvm
    return getattr(tvm, name)(weights=None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile on CPU)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import triton  # noqa: F401 - before TensorFlow would be imported (see docs/torch.md)
    import torch

    import netc
    from netc.deploy.providers import session
    torch.set_num_threads(1)
    rows = []
    for spec, (module, name) in CASES:
        model = netc.compile(os.path.join(ROOT, spec), seed=0)
        x = torch.rand(1, 3, 224, 224) * 255
        ours = model.to_torch().eval()
        ref = reference(module, name).eval()
        sess = session(model.to_onnx(), "cpu", threads=1)
        feed = {sess.get_inputs()[0].name: x.numpy()}
        with torch.no_grad():
            row = {"spec": spec, "reference": f"{module}.{name}",
                   "netc torch eager": median_ms(lambda: ours(x), args.runs),
                   "reference eager": median_ms(lambda: ref(x / 255), args.runs),
                   "netc onnx (ort)": median_ms(lambda: sess.run(None, feed), args.runs)}
            if args.compile:
                try:
                    compiled = torch.compile(ours)
                    row["netc torch.compile"] = median_ms(lambda: compiled(x), args.runs)
                    compiled_ref = torch.compile(ref)
                    row["reference torch.compile"] = median_ms(lambda: compiled_ref(x / 255), args.runs)
                except Exception as err:   # noqa: BLE001 - reported in the table
                    row["netc torch.compile"] = f"failed: {type(err).__name__}"
        rows.append(row)
        print(row, flush=True)
    cols = ["netc torch eager", "reference eager", "netc onnx (ort)", "netc torch.compile", "reference torch.compile"]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = ["| spec | reference | " + " | ".join(f"{c} (ms)" for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.get(c, "") for c in cols]
        lines.append(f"| {r['spec']} | {r['reference']} | " +
                     " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in cells) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
