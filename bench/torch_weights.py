"""Full-size reproduction of the torchvision / timm references through netc's weights import.

    python bench/torch_weights.py [--size 224] [--names resnet50 mobilenet_v2 ...] [--safetensors]

Each reference (tests/refmodels/torch_models.py: random weights, calibrated BNs, a float64 twin) is saved as a
state_dict .pth; netc builds specs/torchvision/<name>.net at ``--size`` with those weights, and its ONNX
(onnxruntime, CPU) and Keras artifacts are compared with the reference's float32 logits on three inputs
(zeros, standard normal, an ImageNet-normalised uniform image): max|d| / max|ref|, worst case, beside the
reference's own float32 noise (max|f32 - f64| / max|f64|). The tolerance is max(1e-5, 3x the noise).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--names", nargs="*", default=None)
    args = ap.parse_args()
    import triton  # noqa: F401 - before TensorFlow (docs/torch.md)
    import numpy as np
    import onnxruntime as ort
    import torch

    import netc
    from refmodels import torch_models
    from refmodels.precision import normalised_diff
    torch.set_num_threads(1)
    rows = []
    tmp = tempfile.mkdtemp(prefix="netc-torch-weights-")
    for name in args.names or list(torch_models.CASES):
        t0 = time.perf_counter()
        m32, m64 = torch_models.reference(name, args.size)
        pth = os.path.join(tmp, f"{name}.pth")
        torch.save(m32.state_dict(), pth)
        with open(os.path.join(ROOT, "specs", "torchvision", f"{name}.net")) as f:
            text = f.read().replace("224x224x3", f"{args.size}x{args.size}x3")
        spec = os.path.join(tmp, f"{name}.net")
        with open(spec, "w") as f:
            f.write(text)
        model = netc.compile(spec, weights=pth)
        sess = ort.InferenceSession(model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
        keras_model = model.to_keras()
        noise = onnx_d = keras_d = 0.0
        for _, x, in torch_models.input_cases(args.size):
            y32, y64 = torch_models.run(m32, x), torch_models.run(m64, x)
            noise = max(noise, normalised_diff(y32, y64))
            onnx_d = max(onnx_d, normalised_diff(sess.run(None, {sess.get_inputs()[0].name:
                                                                 x.transpose(0, 3, 1, 2)})[0], y32))
            keras_d = max(keras_d, normalised_diff(np.asarray(keras_model(x, training=False)), y32))
        tol = max(1e-5, 3 * noise)
        row = (name, noise, onnx_d, keras_d, "yes" if max(onnx_d, keras_d) <= tol else "NO",
               time.perf_counter() - t0)
        rows.append(row)
        print(row, flush=True)
    print(f"\n| reference ({args.size} px) | noise | netc ONNX | netc Keras | within max(1e-5, 3x noise) |")
    print("|---|---|---|---|---|")
    for name, noise, o, k, ok, _ in rows:
        print(f"| {name} | {noise:.1e} | {o:.1e} | {k:.1e} | {ok} |")


if __name__ == "__main__":
    main()
