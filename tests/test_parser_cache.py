"""The analysed grammar is cached in the user's cache directory (never the shared temporary directory),
and a spec parses the same, comments included, whether the parser was built or loaded from the cache."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

SPEC = "input img# 8x8x3\n// a comment\nb#:\n    select:img#\n    cn_k3_c8  // after\noutput b#\n"
FMT = ("import sys; from netc.frontends.fmt import to_net; from netc.frontends.load import parse_source\n"
       "sys.stdout.write(to_net(parse_source(sys.stdin.read(), 'a.net')))")


def _fmt(env: dict) -> str:
    r = subprocess.run([sys.executable, "-c", FMT], input=SPEC, capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_cache_lives_in_the_user_cache_dir_and_parses_the_same(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    built = _fmt(env)
    cache = tmp_path / "netc" / "grammar.lark.cache"
    assert cache.is_file() and oct(cache.parent.stat().st_mode & 0o777) == "0o700"
    loaded = _fmt(env)                       # second process: the parser comes from the cache
    assert loaded == built and "// a comment" in loaded and "// after" in loaded
    assert _fmt({**env, "NETC_PARSER_CACHE": "0"}) == built


def test_no_cache_where_the_directory_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocker)}   # a file, not a directory: caching is skipped
    assert "// a comment" in _fmt(env)
    assert not (tmp_path / "netc").exists()
