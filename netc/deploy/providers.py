"""onnxruntime execution providers by their netc names; never a silent fallback to another provider."""
from __future__ import annotations

from typing import Any

from netc.diagnostics import NetcError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

GPU_HINT = ("onnxruntime-gpu brings the CUDA and TensorRT providers: `pip uninstall -y onnxruntime && "
            "pip install 'netc[gpu]'` (the two packages install the same `onnxruntime` module, so the CPU "
            "package must go first); CUDA and cuDNN must be installed on the machine")


def available() -> list[str]:
    import onnxruntime as ort
    return list(ort.get_available_providers())


def require(name: str) -> str:
    """The onnxruntime provider for netc's ``name``; a NetcError when this onnxruntime lacks it."""
    if name not in PROVIDERS:
        raise NetcError(f"unknown provider `{name}`; choose one of {', '.join(PROVIDERS)}")
    wanted = PROVIDERS[name]
    have = available()
    if wanted not in have:
        import onnxruntime as ort
        raise NetcError(f"provider `{name}` ({wanted}) is not available in onnxruntime {ort.__version__}, "
                        f"which has: {', '.join(have)}", notes=[GPU_HINT])
    return wanted


def provider_list(name: str) -> list[Any]:
    """The ``providers`` argument for a session on ``name``: the provider itself first, then the ones
    onnxruntime places the nodes it cannot run on (the CPU keeps shape and control nodes)."""
    require(name)
    if name == "cpu":
        return ["CPUExecutionProvider"]
    cuda = ("CUDAExecutionProvider", {"use_tf32": 0})   # TF32 would round float32 matmuls to 10 bits
    if name == "cuda":
        return [cuda, "CPUExecutionProvider"]
    return ["TensorrtExecutionProvider", cuda, "CPUExecutionProvider"]


def session(model: Any, name: str = "cpu", *, level: str = "ORT_ENABLE_ALL", threads: int | None = None):
    """An InferenceSession on provider ``name`` (model: bytes, path or ModelProto). Raises NetcError when
    onnxruntime did not register the provider for it (a CUDA library missing at run time, for instance)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    sess = ort.InferenceSession(model, opts, providers=provider_list(name))
    if PROVIDERS[name] not in sess.get_providers():
        raise NetcError(f"onnxruntime created the session without {PROVIDERS[name]} (it runs on "
                        f"{', '.join(sess.get_providers())}): the provider failed to load; see onnxruntime's log",
                        notes=[GPU_HINT])
    return sess
