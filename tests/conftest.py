import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture(autouse=True)
def _quiet_tf(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


def spec_path(name: str) -> str:
    return str(SPECS / name)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Triton 3.8 (which torch imports with torch._dynamo: optimisers, torch.export) crashes the process (SIGSEGV
# in triton/knobs.py) when TensorFlow 2.21 was imported first; imported first, both work. The suite runs
# TensorFlow and PyTorch tests in one process. (0.7 s, only where PyTorch's extra is installed.)
try:
    import importlib.util
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
except ImportError:   # pragma: no cover
    pass


@pytest.fixture(scope="session")
def refmodel_store(tmp_path_factory):
    """Reference classifiers (tests/refmodels), built and saved on first use, at 96 px."""
    from refmodels.store import RefStore, store_directory
    return RefStore(store_directory(tmp_path_factory))
