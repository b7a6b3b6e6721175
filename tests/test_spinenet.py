"""SpineNet (seed 003) in the notation: counts and shapes against Model Garden's figures, fmt round trips,
template expansion and its located errors, and `netc check` on 49S and 96 at a small input (slow)."""
from __future__ import annotations

import pathlib

import pytest

from netc.diagnostics import NetcError
from netc.frontends.fmt import to_net
from netc.frontends.load import load_spec, parse_source
from netc.semantic.analyze import analyze

from conftest import assert_torch_column, spec_path

# Parameter counts of seed 003's own code (TF Model Garden SpineNet, Keras count_params) at 640x640x3.
MODEL_GARDEN = {"spinenet49s.net": 9_146_351, "spinenet49.net": 21_920_192, "spinenet96.net": 36_385_728}
# The larger members, counted by the reference plan (tests/refmodels/spinenet.py, checked there against Keras).
REFERENCE_PLAN = {"spinenet143.net": ("143", 60_413_888, 256), "spinenet190.net": ("190", 126_849_216, 512)}


def _outputs(checked) -> dict[str, tuple]:
    return {name: v.shape for name, v in checked.graph.outputs}


def test_spinenet49_count_and_output_shapes():
    checked = analyze(load_spec(spec_path("spinenet49.net")))
    assert checked.params == 21_920_192
    assert _outputs(checked) == {"p3": (None, 80, 80, 256), "p4": (None, 40, 40, 256), "p5": (None, 20, 20, 256),
                                 "p6": (None, 10, 10, 256), "p7": (None, 5, 5, 256)}
    # 88,704 BN moving statistics (non-trainable), as Model Garden's model reports
    assert sum(w.size for n in checked.graph.nodes for w in n.weights.values() if not w.trainable) == 88_704


@pytest.mark.parametrize("name", sorted(MODEL_GARDEN))
def test_family_counts(name):
    checked = analyze(load_spec(spec_path(name)))
    assert checked.params == MODEL_GARDEN[name]
    width = 128 if name == "spinenet49s.net" else 256
    assert [s[-1] for s in _outputs(checked).values()] == [width] * 5


@pytest.mark.parametrize("name", sorted(REFERENCE_PLAN))
def test_large_family_counts_and_shapes(name):
    from refmodels.spinenet import plan
    model_id, count, width = REFERENCE_PLAN[name]
    ref = plan(model_id, 640)
    assert ref.params() == count
    checked = analyze(load_spec(spec_path(name)))
    assert checked.params == count
    assert _outputs(checked) == {f"p{lv}": (None, 640 >> lv, 640 >> lv, width) for lv in range(3, 8)}
    assert sorted(ref.endpoints) == [3, 4, 5, 6, 7] and ref.endpoints_num_filters == width
    bn_stats = sum(w.size for n in checked.graph.nodes for w in n.weights.values() if not w.trainable)
    assert bn_stats == ref.bn_params()


@pytest.mark.parametrize("name", sorted(MODEL_GARDEN) + sorted(REFERENCE_PLAN))
def test_fmt_round_trip(name):
    path = spec_path(name)
    text = pathlib.Path(path).read_text()
    assert to_net(load_spec(path)) == text          # the shipped specs are canonical
    again = to_net(parse_source(text, "again.net"))
    assert again == text


def test_family_differs_only_in_template_lines():
    base = pathlib.Path(spec_path("spinenet49.net")).read_text().splitlines()
    for name in ("spinenet49s.net", "spinenet96.net", "spinenet143.net", "spinenet190.net"):
        other = pathlib.Path(spec_path(name)).read_text().splitlines()
        assert len(other) == len(base)
        changed = [a for a, b in zip(base, other) if a != b and not a.startswith("//")]
        assert 1 <= len(changed) <= 3, changed


TEMPLATE_SPEC = """input img# 128x128x3
template two_c_k:
    cn_k{k}_c{c}_nre
    cn_k{k}_c{c}
template sum_n:
    spfuse_l1_tr_fs0.25_n{n}:{refs}

a#:
    select:img#  maxpool_k2
    x#two_c8_k3
    y#two_c8_k1
    sum_nre:x#:y#
output a#
"""


def test_template_expansion_counts():
    checked = analyze(parse_source(TEMPLATE_SPEC, "t.net"))
    # x: 3x3 convs with bias 3->8, 8->8; y (reads x): 1x1 convs 8->8, 8->8; the fuse adds no weights
    assert checked.params == (9 * 3 * 8 + 8) + (9 * 8 * 8 + 8) + 2 * (8 * 8 + 8)
    assert _outputs(checked) == {"a": (None, 64, 64, 8)}
    canon = to_net(parse_source(TEMPLATE_SPEC, "t.net"))
    assert to_net(parse_source(canon, "c.net")) == canon
    lines = canon.splitlines()
    for line in TEMPLATE_SPEC.splitlines()[1:6]:    # the templates, verbatim
        assert line in lines


def _error(text: str) -> NetcError:
    with pytest.raises(NetcError) as exc:
        analyze(parse_source(text, "t.net"))
    return exc.value


def test_error_inside_template_names_template_line_and_use_site():
    err = _error(TEMPLATE_SPEC.replace("cn_k{k}_c{c}_nre", "cn_k{k}_c{c}_nxx"))
    d = err.diagnostics[0]
    assert "unknown activation `xx`" in d.message
    assert (d.span.line, d.span.col, d.span.end_col) == (3, 19, 21)   # `xx` in the template line as written
    assert any("used at t.net:10:5" in n for n in d.notes)  # the use site


def test_unknown_template_parameter_located():
    err = _error(TEMPLATE_SPEC.replace("x#two_c8_k3", "x#two_c8_q3"))
    d = err.diagnostics[0]
    assert "no parameter for `q3`" in d.message and (d.span.line, d.span.col) == (10, 14)


def test_missing_template_parameter_located():
    err = _error(TEMPLATE_SPEC.replace("x#two_c8_k3", "x#two_c8"))
    d = err.diagnostics[0]
    assert "needs parameter `k`" in d.message and (d.span.line, d.span.col) == (10, 7)


def test_unknown_placeholder_located():
    err = _error(TEMPLATE_SPEC.replace("cn_k{k}_c{c}\n", "cn_k{k}_c{cc}\n"))
    d = err.diagnostics[0]
    assert "`{cc}`" in d.message and (d.span.line, d.span.col) == (4, 14)


def test_fuse_parent_kinds_checked():
    err = _error(TEMPLATE_SPEC.replace("tr_fs0.25", "tr_pkbx_fs0.25"))
    d = err.diagnostics[0]
    assert "found `x`" in d.message and d.span.line == 6


def _small(name: str, tmp_path) -> str:
    text = pathlib.Path(spec_path(name)).read_text().replace("640x640x3", "128x128x3")
    out = tmp_path / name
    out.write_text(text)
    return str(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["spinenet49s.net", "spinenet96.net"])
def test_check_passes_small_input(name, tmp_path):
    from netc.check import run_check
    report = run_check(_small(name, tmp_path))
    # deep random networks amplify float32 rounding: the tolerance is 3x the reference's own float32 noise
    tol = report["tolerance"]
    assert tol["float32_noise"] is not None and tol["rtol_normalised"] == max(1e-4, 3 * tol["float32_noise"])
    assert report["ok"], report["failing_outputs"]
    assert_torch_column(report)
    assert [row["shape"][1:] for row in report["rows"][:5]] == [[16, 16, report["rows"][0]["shape"][-1]],
                                                               [8, 8, report["rows"][0]["shape"][-1]],
                                                               [4, 4, report["rows"][0]["shape"][-1]],
                                                               [2, 2, report["rows"][0]["shape"][-1]],
                                                               [1, 1, report["rows"][0]["shape"][-1]]]


def test_yaml_twin_gives_the_same_network():
    from netc.frontends.fmt import to_yaml
    net, yml = load_spec(spec_path("spinenet49.net")), load_spec(spec_path("spinenet49.yaml"))
    a, b = analyze(net), analyze(yml)
    assert a.params == b.params == 21_920_192 and _outputs(a) == _outputs(b)
    def nodes(c):
        return [(n.prim, n.name, [v.name for v in n.inputs], n.out.shape, sorted(n.attrs.items(), key=str))
                for n in c.graph.nodes]
    assert nodes(a) == nodes(b)
    assert to_yaml(net) == to_yaml(yml)                       # the twin is the `.net` spec, comments aside
    assert [t.header for t in yml.templates] == ["template blk_l_t:", "template sp_l_t_pk:", "template ep:"]


def test_error_inside_yaml_template_located_at_template_line():
    text = pathlib.Path(spec_path("spinenet49.yaml")).read_text().replace("_nre:{refs}", "_nrx:{refs}")
    with pytest.raises(NetcError) as exc:
        analyze(parse_source(text, "s.yaml"))
    d = exc.value.diagnostics[0]
    lines = text.splitlines()
    assert "unknown activation `rx`" in d.message
    assert lines[d.span.line - 1].strip().startswith("spfuse_") and \
        lines[d.span.line - 1][d.span.col - 1:d.span.end_col - 1] == "rx"
    use = next(n for n in d.notes if "used at s.yaml:" in n)
    ln, col = map(int, use.rsplit(":", 2)[-2:])
    assert lines[ln - 1][col - 1:].startswith("block1#sp_l2_tb_pkbb")


def test_yaml_templates_block_refuses_stray_lines():
    text = pathlib.Path(spec_path("spinenet49.yaml")).read_text().replace("  template ep:", "  templat ep:")
    with pytest.raises(NetcError) as exc:
        parse_source(text, "s.yaml")
    d = exc.value.diagnostics[0]
    assert "templat ep:" in d.message
    assert text.splitlines()[d.span.line - 1][d.span.col - 1:].startswith("templat ep:")


@pytest.mark.parametrize("block, col, message", [
    ("spblk_l8_tb", 11, "`l`: feature level (1/2^l of the input) must be at most 7, found 8"),
    ("spblk_l1_tb_fs0.001", 5, "conv: 0 output channels; a convolution needs at least 1"),
])
def test_spinenet_block_values_out_of_range_are_located(block, col, message):
    text = f"input img# 64x64x3\nb#:\n    select:img#\n    {block}\noutput b#\n"
    with pytest.raises(NetcError) as err:
        analyze(parse_source(text, "r.net"))
    d = err.value.diagnostics[0]
    assert (d.span.line, d.span.col) == (4, col) and message in d.message
