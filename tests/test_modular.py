"""The modular YAML form (seed 002) and user blocks (plugins): counts measured by hand, error locations,
`fmt` round trips, both plugin routes (an installed entry point and `--plugin`)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from netc.blocks import REGISTRY
from netc.cli import main
from netc.compiler import check_spec
from netc.diagnostics import NetcError

from conftest import spec_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "seed002")
MODEL = os.path.join(EXAMPLE, "model.yaml")
PLUGIN = os.path.join(EXAMPLE, "seed002_blocks", "__init__.py")

# seed 002: convs 3->64, 64->128, 128->256 (3x3, bias), then dense 256->21 (bias)
SEED002_PARAMS = (3 * 9 * 64 + 64) + (64 * 9 * 128 + 128) + (128 * 9 * 256 + 256) + (256 * 21 + 21)


def _netc(*args: str, env_path: str = ROOT, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": env_path}
    return subprocess.run([sys.executable, "-c", "from netc.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def _write(tmp_path, text: str, name: str = "m.yaml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


def test_seed002_count_with_plugin_file():
    assert SEED002_PARAMS == 376_213
    checked = check_spec(MODEL, plugins=[PLUGIN])
    assert checked.params == 376_213
    (name, out), = checked.graph.outputs
    assert name == "head" and out.shape == (None, 21)


def test_plugins_do_not_leak_into_other_compilations():
    check_spec(MODEL, plugins=[PLUGIN])
    assert "custom_net" not in REGISTRY.modules
    with pytest.raises(NetcError) as err:
        check_spec(MODEL, plugins=[])
    assert "unknown module type `custom_net`" in err.value.message


def test_plugin_option_on_the_cli():
    r = _netc("summary", MODEL, "--plugin", PLUGIN)
    assert r.returncode == 0, r.stderr
    assert "376,213" in r.stdout and "Nx32x32x256" in r.stdout


def test_installed_package_entry_point(tmp_path):
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), EXAMPLE], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    assert list(target.glob("netc_seed002_blocks-*.dist-info/entry_points.txt"))
    # no --plugin: the entry point in the `netc.blocks` group registers the modules
    r = _netc("summary", MODEL, env_path=f"{target}{os.pathsep}{ROOT}", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "376,213" in r.stdout


@pytest.mark.slow
def test_seed002_passes_netc_check():
    r = _netc("check", MODEL, "--plugin", PLUGIN)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: every route agrees" in r.stdout


def test_builtins_templates_and_ops_as_modules(tmp_path):
    path = _write(tmp_path, """
        input: img#norm1 64x64x3
        templates: |
          template cbr_c:
              cn_k3_c{c}_bn_nre
              cn_k3_c{c}_bn_nre
        net:
          - name: stem
            type: cn
            kwargs: {k: 3, s: 2, c: 16, bn: true, n: re}
          - name: body
            prev: stem
            type: cbr
            kwargs: {c: 32}
          - name: side
            prev: stem
            type: cn
            kwargs: {k: 1, c: 8}
          - name: merged
            prev: [body, side]
            type: cnct
        output: [merged, side]
        """)
    checked = check_spec(path)
    by_stack = {st.name: st.params for st in checked.stacks}
    # stem: 3x3x3x16 kernel + BN (4 x 16); body: two conv-BN 3x3 (16->32, 32->32); side: 1x1 16->8 + bias
    assert by_stack == {"stem#": 432 + 64, "body#": (16 * 9 * 32 + 128) + (32 * 9 * 32 + 128),
                        "side#": 16 * 8 + 8, "merged#": 0}
    assert [(n, v.shape) for n, v in checked.graph.outputs] == [("merged", (None, 32, 32, 40)),
                                                                 ("side", (None, 32, 32, 8))]


def test_default_input_and_forms_told_apart_by_content(tmp_path):
    # a `.yml` file holding the modular form, no `input:` (default image# 224x224x3)
    path = _write(tmp_path, """
        net:
          - name: a
            type: cn
            kwargs: {k: 3, c: 4}
        """, "plain.yml")
    checked = check_spec(path)
    assert checked.graph.outputs[0][1].shape == (None, 224, 224, 4)
    assert checked.params == 3 * 9 * 4 + 4


@pytest.mark.parametrize("path", [MODEL, "builtins"])
def test_fmt_round_trips(tmp_path, path):
    if path == "builtins":
        path = _write(tmp_path, """
            input: "img#norm1 64x64x3"
            templates: |
              template cbr_c:
                  cn_k3_c{c}_bn_nre
            net:
              - {name: stem, type: cn, kwargs: {k: 3, s: 2, c: 16, bn: true, n: re}}
              - name: body
                prev: [stem]
                type: cbr
                kwarg: {c: 32}
            output: body
            """)
    first = _netc("fmt", path)
    assert first.returncode == 0, first.stderr
    again = tmp_path / "again.yaml"
    again.write_text(first.stdout)
    second = _netc("fmt", str(again))
    assert second.stdout == first.stdout
    assert "kwarg:" not in first.stdout and "kwargs:" in first.stdout


HEAD = """\
input: image# 32x32x3
net:
  - name: backbone
    type: custom_net
    kwarg: {depth: 3, out_planes: [64, 128, 256]}
"""


@pytest.mark.parametrize("tail, line, col, fragment", [
    ("  - name: head\n    prev: backbone\n    type: custom_hed\n", 8, 11,
     "unknown module type `custom_hed`; did you mean `custom_head`?"),
    ("  - name: head\n    prev: bakbone\n    type: custom_head\n", 7, 11,
     "`prev` names `bakbone`, but no earlier module has that name; did you mean `backbone`?"),
    ("  - name: head\n    prev: [backbone, tail]\n    type: custom_head\n  - name: tail\n    type: cn\n", 7, 22,
     "`prev` names `tail`, which is defined later (line 9)"),
    ("  - name: head\n    prev: backbone\n    type: custom_head\n    kwargs: {num_class: 21}\n", 9, 14,
     "module `custom_head` takes no kwarg `num_class`; did you mean `num_classes`?"),
    ("  - name: head\n    prev: backbone\n    type: custom_head\n", 8, 11,
     "module `custom_head` needs kwarg `num_classes` (int)"),
    ("  - name: head\n    prev: backbone\n    type: custom_head\n    kwargs: {num_classes: \"21\"}\n", 9, 27,
     "kwarg `num_classes` of `custom_head` must be int, found str"),
    ("  - name: head\n    prev: backbone\n    type: custom_head\n    kwargs:\n      num_classes: [21]\n", 10, 20,
     "kwarg `num_classes` of `custom_head` must be int, found list[int]"),
    ("  - name: head\n    prev: backbone\n    type: custom_head\n    kwargz: {num_classes: 21}\n", 9, 5,
     "unknown module key `kwargz`; did you mean `kwargs`?"),
])
def test_errors_are_located(tmp_path, tail, line, col, fragment):
    path = _write(tmp_path, HEAD + tail)
    with pytest.raises(NetcError) as err:
        check_spec(path, plugins=[PLUGIN])
    d = err.value.diagnostics[0]
    assert fragment in d.message
    assert (d.span.line, d.span.col) == (line, col)


def test_wrong_list_item_type_and_registered_types_listed(tmp_path):
    path = _write(tmp_path, HEAD.replace("[64, 128, 256]", "[64, x, 256]"))
    with pytest.raises(NetcError) as err:
        check_spec(path, plugins=[PLUGIN])
    d = err.value.diagnostics[0]
    assert "must be list[int]: this item is str `'x'`, not int" in d.message
    assert (d.span.line, d.span.col) == (5, 40)
    path = _write(tmp_path, HEAD.replace("custom_net", "resnet"))
    with pytest.raises(NetcError) as err:
        check_spec(path, plugins=[PLUGIN])
    assert any("modules: custom_net, custom_head" in n for n in err.value.diagnostics[0].notes)


def test_cli_error_exit_code_and_rendering(tmp_path):
    path = _write(tmp_path, HEAD + "  - name: head\n    prev: backbone\n    type: custom_head\n")
    r = _netc("summary", path, "--plugin", PLUGIN)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{path}:8:11: error: module `custom_head` needs kwarg `num_classes` (int)" in r.stderr


def test_plugin_name_clashes_are_located_errors(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(textwrap.dedent("""
        from netc.registry import BlockType


        class Conv(BlockType):
            code, doc = "cn", "a second cn"


        def register(reg):
            reg.block(Conv)
        """))
    with pytest.raises(NetcError) as err:
        check_spec(MODEL, plugins=[str(clash)])
    d = err.value.diagnostics[0]
    assert "block type `cn` is registered twice (it is a built-in name" in d.message
    assert (d.span.file, d.span.line) == (str(clash), 10)
    twice = tmp_path / "twice.py"
    twice.write_text(open(PLUGIN).read())
    r = _netc("summary", MODEL, "--plugin", PLUGIN, "--plugin", str(twice))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "module `custom_net` is registered twice" in r.stderr and f"{twice}:" in r.stderr
    assert "cn" in REGISTRY.blocks and REGISTRY.blocks["cn"].doc != "a second cn"


def test_plugin_block_type_with_its_own_argument_code(tmp_path):
    plugin = tmp_path / "scale.py"
    plugin.write_text(textwrap.dedent("""
        from netc.registry import Args, BlockType, Param


        class Expand(BlockType):
            \"\"\"1x1 conv to m times the input channels, no bias.\"\"\"
            code, doc = "xpand", "1x1 conv widening by m"
            params = {"m": Param(required=True)}

            def lower(self, b, a: Args, x):
                return b.conv(x, x.channels * a.m, 1, 1, "same", bias=False, name="conv")


        def register(reg):
            reg.arg("m", "int", "width multiplier")
            reg.block(Expand)
        """))
    path = _write(tmp_path, """
        input: img# 8x8x5
        net:
          - name: a
            type: xpand
            kwargs: {m: 3}
        """)
    checked = check_spec(path, plugins=[str(plugin)])
    assert checked.params == 5 * 15 and checked.graph.outputs[0][1].shape == (None, 8, 8, 15)
    assert "m" not in REGISTRY.arg_codes


PLUGIN_MISTAKES = {
    "import": ("import not_a_module_anywhere\n\ndef register(reg):\n    pass\n", 1,
               "cannot be imported: ModuleNotFoundError"),
    "register": ("def register(reg):\n    {}['x']\n", 2, "KeyError: 'x'"),
    "argument": ("from netc.registry import BlockType, Param\n\ndef register(reg):\n    class B(BlockType):\n"
                 "        code, doc, params = 'zz', 'z', {'qq': Param()}\n\n        def lower(self, b, a, x):\n"
                 "            return x\n    reg.block(B)\n", 9, "uses unregistered argument code `qq`"),
}


@pytest.mark.parametrize("kind", sorted(PLUGIN_MISTAKES))
def test_plugin_mistakes_are_located_in_the_plugin(kind, tmp_path, capsys):
    """A plugin that fails to import, raises in `register`, or registers a block using an unknown argument code
    is the plugin author's mistake: exit 2 at the plugin's line, never netc's internal error."""
    source, line, message = PLUGIN_MISTAKES[kind]
    plugin = tmp_path / "plug.py"
    plugin.write_text(source)
    with pytest.raises(SystemExit) as e:
        main(["summary", spec_path("mobilenet_v3.net"), "--plugin", str(plugin)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and f"{plugin}:{line}:" in err and "internal error" not in err


def test_plugin_block_failing_to_lower_is_located_at_the_block(tmp_path, capsys):
    plugin = tmp_path / "plug.py"
    plugin.write_text("from netc.registry import BlockType\n\ndef register(reg):\n    class B(BlockType):\n"
                      "        code, doc, params = 'zz', 'z', {}\n\n        def lower(self, b, a, x):\n"
                      "            return 1 / 0\n    reg.block(B)\n")
    spec = tmp_path / "zz.net"
    spec.write_text("input img# 8x8x3\nb#:\n    select:img#\n    zz\noutput b#\n")
    with pytest.raises(SystemExit) as e:
        main(["summary", str(spec), "--plugin", str(plugin)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"{spec}:4:5: error: the plugin block type `zz` failed while lowering" in err
