"""Progress on stderr for the person at the terminal (netc/progress.py): shown when stderr is a terminal (a
pty here), nothing extra when piped or with --quiet, never on stdout (so --json stays JSON)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import pytest

from netc import progress
from tests.conftest import ROOT

TINY = "input img#norm1 16x16x3\nb#:\n    select:img#\n    cn_bn_k3_s2_c8_nre\noutput b#\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_steps_on_a_terminal_and_erased_at_the_end() -> None:
    term = _Terminal()
    with progress.shown(stream=term):
        for _ in progress.steps(range(3), "running"):
            pass
        progress.step("building the Keras reference")
        assert term.getvalue().endswith("netc: building the Keras reference, 0 s")
    text = term.getvalue()
    for i in (1, 2, 3):
        assert f"netc: running ({i} of 3), 0 s" in text
    assert text.endswith(progress.CLEAR)   # the line is erased: nothing is left on the terminal
    progress.step("after the command")     # no reporter any more: nothing written
    assert term.getvalue() == text


@pytest.mark.parametrize("quiet", [False, True])
def test_nothing_when_piped_or_quiet(quiet) -> None:
    stream = io.StringIO() if not quiet else _Terminal()
    with progress.shown(quiet, stream=stream):
        progress.step("running", 1, 2)
        progress.clear()
    assert stream.getvalue() == ""


def test_a_long_step_keeps_its_time_current(monkeypatch) -> None:
    monkeypatch.setattr(progress.Reporter, "TICK_S", 0.05)
    term = _Terminal()
    with progress.shown(stream=term) as reporter:
        progress.step("a long step")
        reporter.stopped.wait(0.3)
    assert term.getvalue().count("netc: a long step") >= 3   # redrawn by the ticker, not only at the step


def _netc(args: list[str], tty: bool) -> tuple[int, str, str]:
    """Run netc with stderr on a pty (``tty``) or a pipe; stdout is always a pipe."""
    cmd = [sys.executable, "-c", "from netc.cli import main; main()", *args]
    if not tty:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        return r.returncode, r.stdout, r.stderr
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    err = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: the child closed its end
            break
        if not data:
            break
        err.append(data)
    proc.wait(timeout=600)
    reader.join()
    os.close(master)
    return proc.returncode, b"".join(out).decode(), b"".join(err).decode()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "tiny.net"
    path.write_text(TINY)
    return path


def test_int8_calibration_shows_progress_on_a_terminal_only(tiny) -> None:
    args = ["build", str(tiny), "-o", str(tiny.with_suffix(".onnx")), "--precision", "int8", "--calibrate", "3"]
    code, out, err = _netc(args, tty=True)
    assert code == 0, err
    assert "netc: int8 calibration: input (3 of 3)" in err and out == ""
    assert "wrote " in err.split(progress.CLEAR)[-1]   # the line was erased before the result
    code, out, err = _netc(args, tty=False)
    assert code == 0 and "netc:" not in err and progress.CLEAR not in err and out == ""
    code, out, err = _netc(args + ["--quiet"], tty=True)
    assert code == 0 and "netc:" not in err and progress.CLEAR not in err


@pytest.mark.slow
def test_check_progress_never_mixes_into_json(tiny) -> None:
    code, out, err = _netc(["check", str(tiny), "--json"], tty=True)
    assert code == 0, err
    report = json.loads(out)   # stdout is the JSON report and nothing else
    assert report["ok"]
    n = len(report["columns"])   # one progress step per route check runs (ONNX twice, torch where installed)
    for step in ("compiling", "building the Keras reference", "running the Keras reference: input (4 of 4)",
                 f"running route onnx (ort opt all) (2 of {n})", f"({n} of {n})"):
        assert f"netc: {step}" in err or step.startswith("(") and step in err, err
    code, out, err = _netc(["check", str(tiny), "--json"], tty=False)
    assert code == 0 and json.loads(out)["ok"] and "netc:" not in err
