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


# ---------------------------------------------------------------------------------- parallel runs (xdist)
#: fixtures that cost nothing to make twice: a test using only these may run on any worker
_CHEAP_SHARED = {"tmp_path_factory", "worker_id", "testrun_uid", "monkeypatch", "capsys", "tmp_path"}


def _shared_fixtures(item) -> tuple[str, ...]:
    """The module- or session-scoped fixtures ``item`` uses (directly or through others), cheap ones aside."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return ()
    names = []
    for name in info.names_closure:
        defs = info.name2fixturedefs.get(name)
        if defs and defs[-1].scope in ("module", "session", "package") and name not in _CHEAP_SHARED:
            names.append(f"{name}@{defs[-1].scope}")
    return tuple(sorted(names))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n N --dist loadgroup`` (`make test`), tests that share an expensive fixture run on one
    worker, so it is made once: the users of a session fixture, and within a module the tests linked by the
    module fixtures they share, form one group each (test_zoo's references: one group per family); every other
    test goes to whichever worker is free. Without xdist this does nothing."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    keys = {}
    for item in items:
        shared = _shared_fixtures(item)
        if not shared:
            continue
        nodes = [s if s.endswith("@session") else f"{item.module.__name__}:{s}" for s in shared]
        callspec = getattr(item, "callspec", None)
        if "zoo_case" in item.fixturenames and callspec is not None and "name" in callspec.params:
            nodes = [f"zoo:{callspec.params['name']}"]   # one reference per family, each its own group
        for other in nodes[1:]:
            parent[find(other)] = find(nodes[0])
        keys[item.nodeid] = nodes[0]
    for item in items:
        if item.nodeid in keys:
            item.add_marker(pytest.mark.xdist_group(find(keys[item.nodeid])))
