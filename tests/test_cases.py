"""Golden error cases: each tests/cases/NAME.net or NAME.yaml beside NAME.err, the exact text `netc summary`
prints on stderr (with the path shown as `CASE`), exit code 2. Add a case by writing both files; regenerate an
expectation with NETC_UPDATE_CASES=1 and read the diff before committing it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from netc.cli import main

CASES = Path(__file__).resolve().parent / "cases"
SPECS = sorted(p for p in CASES.iterdir() if p.suffix in (".net", ".yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_case(spec, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["summary", str(spec)])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == ""
    got = err.replace(str(spec), "CASE")
    expected = spec.with_suffix(".err")
    if os.environ.get("NETC_UPDATE_CASES"):
        expected.write_text(got)
    assert got == expected.read_text()
