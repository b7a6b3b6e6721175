"""Write one spec's ONNX with every PReLU in a given form and slopes drawn from a given range (bench/run.py's
PReLU study): ``python bench/prelu_models.py SPEC OUTDIR SLOPES FORM...``; SLOPES is ``default`` (Keras' zero
init), ``random`` (netc's trained-like init: all weights drawn, slopes in [0.05, 0.3], BN statistics
calibrated) or ``LO:HI`` (trained-like weights, slopes uniform in [LO, HI]). Prints the written paths as JSON."""
from __future__ import annotations

import json
import os
import sys

import numpy as np


def write(spec: str, outdir: str, slopes: str, forms: list[str]) -> dict[str, str]:
    import netc
    from workers import trained_like

    model = netc.compile(spec, randomize=slopes != "default")
    if ":" in slopes:
        lo, hi = (float(v) for v in slopes.split(":"))
        rng = np.random.default_rng(5)
        for w in model.graph.weights:
            if w.role == "alpha":
                model.weights[w.name] = rng.uniform(lo, hi, w.shape).astype(np.float32)
    if slopes != "default":   # BN statistics calibrated for these slopes (bench/workers.py)
        model.weights = trained_like(model)
    stem = os.path.splitext(os.path.basename(spec))[0]
    paths = {}
    for form in forms:
        path = paths[form] = os.path.join(outdir, f"{stem}.{slopes.replace(':', '_')}.{form}.onnx")
        model.save(path, backend="onnx", prelu_form=None if form == "chosen" else form)
    return paths


if __name__ == "__main__":
    print(json.dumps(write(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])))
