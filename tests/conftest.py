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


@pytest.fixture(scope="session")
def refmodel_store(tmp_path_factory):
    """Reference classifiers (tests/refmodels), built and saved on first use, at 96 px."""
    from refmodels.store import RefStore, store_directory
    return RefStore(store_directory(tmp_path_factory))
