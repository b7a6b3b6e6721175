"""How far a reduced-precision run is from the float32 reference, and its tolerances.

max|d| / max|ref| (the float32 routes' measure) is set by one element; at reduced precision the error is
spread over every element, so the verdict uses the relative L2 error ||got - ref|| / ||ref||. Classifier
outputs (rank 2, or made by a Softmax) also get the top-1 agreement over their last axis. int8 is judged
mainly by the fit of its quantization scales (netc.deploy.quant_fit), on inputs like its calibration data:
on random weights its end-to-end error is mostly the network's amplification of the quantization noise.
Tolerances were measured on the shipped specs with `netc check`'s weights and inputs (docs/deploy.md).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from netc.deploy.quant_fit import FIT_TOLERANCE

# relative L2 error allowed at each precision; see docs/deploy.md for the measurements behind them. int8's bound
# only catches a broken artifact (the fit is its real judge): below 1, since an all-zero output is at 1 and a
# sign-flipped one above it, and 1.3x the worst measured on check's random weights (0.67, SpineNet-49S)
REL_L2_TOLERANCE = {"fp16": 0.05, "int8": 0.9}


def classifier_outputs(proto) -> set[str]:
    """Names of ``proto``'s outputs that are class scores: rank 2, or produced by a Softmax node."""
    softmax = {o for n in proto.graph.node if n.op_type in ("Softmax", "LogSoftmax") for o in n.output}
    return {v.name for v in proto.graph.output
            if len(v.type.tensor_type.shape.dim) == 2 or v.name in softmax}


def top1_agreement(ref: np.ndarray, got: np.ndarray) -> float:
    """Share of samples (all positions but the last axis) whose arg-max over the last axis agrees."""
    return float(np.mean(np.argmax(ref, axis=-1) == np.argmax(got, axis=-1)))


def compare(ref: np.ndarray, got: np.ndarray, precision: str, classifier: bool = False, *,
            fit: Any = None, judged: bool = True) -> dict[str, Any]:
    """The comparison of one output at ``precision``: the fields of check's float32 comparison plus
    ``rel_l2`` and ``top1`` (None unless ``classifier``). ``ok`` needs a finite output of the right shape
    and, when ``judged``, rel_l2 within the tolerance and (int8) the quantization ``fit``
    (netc.deploy.quant_fit.Fit) within its own; inputs unlike the calibration data are not ``judged``."""
    got = np.asarray(got)
    finite = bool(np.isfinite(got).all())
    if got.shape != ref.shape:
        return {"shape": list(got.shape), "shape_ok": False, "finite": finite, "max_abs": None, "norm": None,
                "rel_l2": None, "top1": None, "fit": None, "fit_tensor": None, "judged": judged, "ok": False}
    d = got.astype(np.float64) - ref.astype(np.float64)
    diff = float(np.max(np.abs(d))) if d.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    ref_l2 = float(np.linalg.norm(ref.astype(np.float64)))
    rel_l2 = float(np.linalg.norm(d)) / ref_l2 if ref_l2 > 0 else float(np.linalg.norm(d))
    top1 = top1_agreement(ref, got) if classifier and ref.ndim >= 2 else None
    fit_ok = fit is None or fit.worst <= FIT_TOLERANCE
    ok = finite and (not judged or (rel_l2 <= REL_L2_TOLERANCE[precision] and fit_ok))
    return {"shape": list(got.shape), "shape_ok": True, "finite": finite, "max_abs": diff,
            "norm": diff / scale if scale > 0 else diff, "rel_l2": rel_l2, "top1": top1,
            "fit": None if fit is None else fit.worst, "fit_tensor": None if fit is None else fit.tensor,
            "judged": judged, "ok": ok}
