import json
import os
import pathlib
import tempfile

# Under `pytest -n N` with a worker per core (`make test`), each worker's TensorFlow, PyTorch and BLAS would start a
# thread per core too: twice as many busy threads as cores. One thread each, set before any of them loads, measured
# test_zoo + test_classifiers at 176 s against 188 s (user 264 s against 292, sys 48 against 63). onnxruntime sessions
# keep their own default. A serial run, or fewer workers than cores, keeps every library's default.
if os.environ.get("PYTEST_XDIST_WORKER") and \
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= (os.cpu_count() or 1):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture(autouse=True)
def _quiet_tf(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


def spec_path(name: str) -> str:
    return str(SPECS / name)


def assert_torch_column(report: dict) -> None:
    """A `netc check` report has its PyTorch column (the written model.py + model.safetensors, on the CPU)
    wherever torch is installed, as in `make test`; ``report["ok"]`` then covers it. The every-spec checks
    carry this, so the PyTorch tests need not check the same specs again."""
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        assert "torch (cpu)" in report["columns"], report["columns"]
        assert ("torch deployed (cpu)" in report["columns"]) == report["deploy"], report["columns"]


#: the columns of `netc check --deploy` besides torch's: both forms of each artifact in one run
BOTH_FORMS = {"onnx (ort opt off)", "onnx (ort opt all)", "onnx deployed (ort opt off)",
              "onnx deployed (ort opt all)", "keras deployed (tf)"}


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
_GROUPS_PATH = pytest.StashKey[str]()
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


def fixture_groups(items) -> dict[str, str]:
    """Each test that shares an expensive fixture, mapped to its group: the users of a session fixture, and
    within a module the tests linked by the module fixtures they share, form one group each (test_zoo's
    references: one group per family, each built once); tests absent from the map go wherever a worker is free."""
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
    return {nodeid: find(node) for nodeid, node in keys.items()}


# Under `pytest -n N --dist loadgroup` (`make test`) the groups above decide where tests run. xdist's own
# loadgroup reads `xdist_group` marks by rewriting `item._nodeid`, which pytest 9.2 no longer reads (a node's id
# is `item._id`), so its groups silently vanish and each worker built every module fixture again (measured: the
# Model Garden fixture, 119 s, twice). Instead each worker writes the map it collected to a file the controller
# names, and the controller's scheduler groups by it. Without xdist none of this runs.
_GROUPS_KEY = "netc_fixture_groups"


def pytest_configure(config):
    if getattr(config, "workerinput", None) is None and config.pluginmanager.hasplugin("xdist") \
            and config.getoption("dist", "no") == "loadgroup":
        fd, path = tempfile.mkstemp(prefix="netc-xdist-groups-", suffix=".json")
        os.close(fd)
        config.stash[_GROUPS_PATH] = path


def pytest_unconfigure(config):
    path = config.stash.get(_GROUPS_PATH, None)
    if path is not None and os.path.exists(path):
        os.unlink(path)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    path = node.config.stash.get(_GROUPS_PATH, None)
    if path is not None:
        node.workerinput[_GROUPS_KEY] = path


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    path = (getattr(config, "workerinput", None) or {}).get(_GROUPS_KEY)
    if path is None:
        return
    tmp = f"{path}.{config.workerinput.get('workerid', 'w')}"
    with open(tmp, "w") as f:
        json.dump(fixture_groups(items), f)
    os.replace(tmp, path)   # every worker collects the same tests, so whichever lands last is the same map


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    path = config.stash.get(_GROUPS_PATH, None)
    if path is None:
        return None
    from xdist.scheduler import LoadGroupScheduling

    class FixtureGroupScheduling(LoadGroupScheduling):
        """loadgroup whose groups come from the workers' fixture map (read once, when scheduling starts:
        after every worker finished collecting, so after each wrote the map)."""
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                try:
                    with open(path) as f:
                        self.groups = json.load(f)
                except (OSError, ValueError):   # no worker wrote it (a collection error): plain load
                    self.groups = {}
            group = self.groups.get(nodeid)
            return f"group:{group}" if group is not None else super()._split_scope(nodeid)

    return FixtureGroupScheduling(config, log)
