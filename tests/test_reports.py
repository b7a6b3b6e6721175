"""What the summary and the error report say: a modular module's row carries the module's name; a plugin
block's repeats count in the work estimate; a template's mistake is reported once, with every use site; a
YAML spec's block-string errors and its model errors come in one report."""
from __future__ import annotations

import textwrap

import pytest

from netc.compiler import check_spec
from netc.diagnostics import NetcError
from netc.semantic.summary import summary_data, summary_table

MODULAR = """\
input: img# 32x32x3
net:
  - name: stem
    type: cn
    kwargs: {k: 3, s: 2, c: 8, bn: true}
  - name: body
    prev: stem
    type: ir
    kwargs: {k: 3, e: 2, c: 8, r: 2}
  - name: joined
    prev: [stem, body]
    type: cnct
output: [joined]
"""


def test_a_modules_row_is_named_by_the_module() -> None:
    checked = check_spec(MODULAR, fmt="yaml")
    rows = [ln.split() for ln in summary_table(checked).splitlines()]
    named = {r[0]: r[1] for r in rows if r and r[0].endswith("#")}
    assert named == {"stem#": "stem", "body#": "body", "joined#": "joined"}
    blocks = [b for st in summary_data(checked)["stacks"] for b in st["blocks"]]
    assert [b["module"] for b in blocks] == ["stem", "body", "joined"]
    assert [b["names"] for b in blocks] == [["layer_0"], ["layer_0", "layer_1"], ["layer_0"]]   # checkpoint names
    plain = check_spec("input img# 8x8x3\nb#:\n    select:img#\n    cn_k3_c8\noutput b#\n")
    assert summary_data(plain)["stacks"][0]["blocks"][0]["module"] is None


PLUGIN = """
from netc.registry import Args, BlockType, Param


class Repeated(BlockType):
    code, doc = "pr", "a plugin block with repeats"
    params = {"r": Param(default=1), "c": Param(required=True)}

    def lower(self, b, a: Args, x):
        return b.relu(x, name="relu")


def register(reg):
    reg.block(Repeated)
"""


def test_a_plugin_blocks_repeats_count_in_the_work_estimate(tmp_path) -> None:
    plugin = tmp_path / "repeated.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    lines = "".join("    pr_r1000_c8\n" for _ in range(200))   # 200,000 nodes: 4x the default limit
    with pytest.raises(NetcError) as err:
        check_spec(f"input img# 8x8x3\nb#:\n    select:img#\n{lines}output b#\n", plugins=[str(plugin)])
    (d,) = err.value.diagnostics
    assert "exceeds the limit of 50,000 IR nodes" in d.message and "at least 200,001" in d.message   # + the input
    assert d.span.line == 4   # refused at the first block, before any copy exists (it counted 1 copy each)


def test_a_templates_mistake_is_reported_once_with_every_use_site() -> None:
    spec = ("template blk_c:\n    cn_k3_c{c}_nrx\n\ninput img# 32x32x3\nb#:\n    select:img#\n"
            "    blk_c8\n    blk_c8\n    blk_c16\noutput b#\n")
    with pytest.raises(NetcError) as err:
        check_spec(spec)
    (d,) = err.value.diagnostics
    assert d.message.startswith("unknown activation `rx`") and (d.span.line, d.span.col) == (2, 17)
    uses = [n for n in d.notes if n.startswith("in the expansion of template `blk` used at")]
    assert [u.rsplit(":", 2)[-2] for u in uses] == ["7", "8", "9"]


YAML = """\
model_def:
  inputs#:
    - [img#norm1]
  a#:
    - ['select:img#']
    - [cn_k3_c8_nre, "ir_k3_e2,5_c8"]
    - [cn_k3_c8_nrx]
  b#:
    - ['select:img#']
    - [zz_k3_c8]
  c#:
    - ['select:a#']
    - [cn_k3_c8]
model_ins: inputs#
model_outs: [a#, b#, c#]
in_chs: [3]
input_size: [32, 32]
"""


def test_yaml_block_string_and_model_errors_come_in_one_report() -> None:
    with pytest.raises(NetcError) as err:
        check_spec(YAML, fmt="yaml")
    got = [(d.span.line, d.message.split(";")[0].split(" (")[0]) for d in err.value.diagnostics]
    assert got == [(6, "a number with a fraction is written with a point"),   # the block string
                   (7, "unknown activation `rx`"),      # a later block of the same (broken) stack, checked
                   (10, "unknown block type `zz`")]     # another stack; c# reads the broken a#: skipped
