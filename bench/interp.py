"""Speed of the numpy interpreter (netc/ir/interp.py) on a small 224x224 model, batch 2.

    .venv/bin/python bench/interp.py      # prints the median of 5 runs; the target is under 5 s

Moved here from the test suite: wall time depends on the machine and its load, so it is measured, not asserted.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netc.ir import interp  # noqa: E402
from netc.ir.builder import Builder  # noqa: E402
from netc.ir.weights import init_weights  # noqa: E402

TARGET_S = 5.0


def main() -> None:
    b = Builder()
    x = b.input("x", (None, 224, 224, 3))
    y = b.relu(b.batchnorm(b.conv(x, 16, 3, 2, name="stem")), 6.0)
    y = b.hardswish(b.depthwise(y, 3))
    y = b.conv(y, 24, 1, name="project")
    y = b.pool("max", y, 3, 2, "same")
    b.output("y", b.resize(y))
    w = init_weights(b.graph, 0, randomize=True)
    feeds = {"x": np.ones((2, 224, 224, 3), np.float32)}
    times = []
    for _ in range(5):
        start = time.perf_counter()
        interp.run(b.graph, w, feeds)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"interp, 224x224 model, batch 2: median {median:.2f} s of 5 "
          f"({'meets' if median < TARGET_S else 'MISSES'} the {TARGET_S:g} s target)")


if __name__ == "__main__":
    main()
