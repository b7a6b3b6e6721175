"""The pinned dependencies: pyproject.toml's pins, constraints.txt (every transitive dependency) and the Makefile
that installs with it (`make test` is the CI step) agree; the libraries the ONNX path imports are installed
at their pinned versions."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest

from tests.conftest import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: `{line}` is not an exact pin"
            pins[_norm(name)] = version
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = {}
    for req in reqs:
        name, sep, version = req.partition("==")
        assert sep, f"pyproject.toml: `{req}` is not an exact pin"
        pins[_norm(name.split("[")[0])] = version
    return pins


def test_constraints_hold_every_pyproject_pin() -> None:
    constraints = _constraints()
    assert "netc" not in constraints
    for name, version in _pyproject_pins().items():
        if name == "onnxruntime-gpu":   # the GPU extra replaces onnxruntime; not in the CPU venv
            continue
        assert constraints.get(name) == version, f"{name}: pyproject {version}, constraints {constraints.get(name)}"


def test_ml_dtypes_pinned_for_start_up() -> None:
    assert _pyproject_pins()["ml-dtypes"] == "0.6.0"
    assert _constraints()["ml-dtypes"] == "0.6.0"


def test_make_installs_with_the_constraints() -> None:
    make = (ROOT / "Makefile").read_text()
    install = [ln for ln in make.splitlines() if "pip install" in ln and "-e " in ln]
    assert install and all("-c constraints.txt" in ln for ln in install)
    assert re.search(r"^\$\(STAMP\):.*constraints\.txt", make, re.M)   # a new pin reinstalls


@pytest.mark.parametrize("name", ["numpy", "onnx", "ml_dtypes", "protobuf", "click", "lark", "pyyaml",
                                  "onnxruntime", "typing_extensions"])
def test_onnx_path_libraries_at_their_pins(name: str) -> None:
    assert metadata.version(name) == _constraints()[_norm(name)]
