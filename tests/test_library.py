"""netc as a library: compiling several specs in one process, or in threads at once, keeps them independent
(no module-level lists or caches shared between compilations)."""
from __future__ import annotations

import sys
import threading

import pytest

from netc.compiler import check_spec
from netc.diagnostics import NetcError, render_error
from netc.frontends.load import parse_source


def _spec(i: int, bad: bool = False) -> str:
    act = "_nfoo" if bad else ""
    return (f"// spec {i}\ninput img#norm1 32x32x3   // input {i}\ns#:\n    select:img#\n"
            + f"    cn_k3_c8  // filler {i}\n" * 20 + f"    cn_k3_c{i + 1}{act}   // block {i}\noutput s#\n")


def _error(text: str) -> NetcError:
    with pytest.raises(NetcError) as exc:
        check_spec(text)
    return exc.value


def test_two_specs_of_one_name_keep_their_own_source_lines():
    """Both are `<string>`: an error of the first, rendered after the second was read, shows its own line."""
    first = _error(_spec(1, bad=True))
    second = _error(_spec(5, bad=True))
    assert "cn_k3_c2_nfoo" in render_error(first) and "cn_k3_c6_nfoo" not in render_error(first)
    assert "cn_k3_c6_nfoo" in render_error(second)


def _expected(i: int) -> tuple:
    spec = parse_source(_spec(i), f"s{i}.net")
    return (tuple(sorted(spec.comments.values())), check_spec(_spec(i)).params)


def test_threads_compile_independently():
    """Eight threads parse and check different specs at once, each many times: every result (comments, which
    the parser collects through a callback, and parameter counts) is the one of its own spec."""
    expected = {i: _expected(i) for i in range(8)}
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(25):
            got = _expected(i)
            if got != expected[i]:
                failures.append(f"thread {i}: {got} != {expected[i]}")
            try:
                check_spec(_spec(i, bad=True))
            except NetcError as err:
                if f"cn_k3_c{i + 1}_nfoo" not in render_error(err):
                    failures.append(f"thread {i}: error shows another spec's line: {render_error(err)}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads as often as possible, inside parses
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]
    assert [len(e[0]) for e in expected.values()] == [23] * 8   # each spec's three comments, none of another's


def test_float64_twin_leaves_the_global_dtype_policy_alone():
    """`netc check`'s float64 twin gives each layer its dtype; the process-wide Keras policy, which other
    threads' models read, stays as it was."""
    keras = pytest.importorskip("keras")
    import netc
    from netc.backends.keras_backend import to_keras
    m = netc.compile("input img# 8x8x3\nb#:\n    select:img#\n    cn_bn_k3_c4_nre\noutput b#\n")
    before = keras.config.dtype_policy().name
    twin = to_keras(m.graph, m.weights, dtype="float64")
    assert keras.config.dtype_policy().name == before == "float32"
    assert {layer.dtype for layer in twin.layers if layer.weights} == {"float64"}
