"""One test per class of user error, through the CLI: message, line, column, caret, exit 2, no traceback.

Each class is checked in the `.net` form and, where it exists there, in the YAML form. The specs are built
from small templates so each block's position is known: in NET(...) the n-th block after `select:img#` sits on
line 4 + n at column 5; in YAML(...) on line 5 + n at column 9.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from netc.cli import main

SPECS = Path(__file__).resolve().parent.parent / "specs"
HEADER = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")


def NET(*blocks: str, size: str = "32x32", out: str = "s#") -> str:
    body = "".join(f"    {b}\n" for b in blocks)
    return f"input img#norm1 {size}x3\ns#:\n    select:img#\n{body}output {out}\n"


def YAML(*blocks: str, size: str = "[32, 32]", out: str = "s#") -> str:
    body = "".join(f'    - ["{b}"]\n' for b in blocks)
    return (f'model_def:\n  inputs#: [[img#norm1]]\n  s#:\n    - ["select:img#"]\n{body}'
            f"model_ins: inputs#\nmodel_outs: [{out}]\nin_chs: [3]\ninput_size: {size}\n")


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def errors(tmp_path, capsys, text: str | bytes, name: str = "spec.net", *options: str) -> list[dict]:
    """Run `netc summary` on ``text``; assert a clean user error; return each diagnostic with its caret column."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    code, out, err = run(capsys, "summary", *options, str(path))
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    diags, lines = [], err.splitlines()
    for i, ln in enumerate(lines):
        m = HEADER.match(ln)
        if m:
            d = {"file": m["file"], "line": int(m["line"]), "col": int(m["col"]), "msg": m["msg"], "caret": None}
            if i + 2 < len(lines) and lines[i + 2].lstrip().startswith("^"):
                d["caret"] = lines[i + 2].index("^") - 4 + 1   # the source line is indented by 4
            diags.append(d)
    assert diags, err
    assert all(d["file"] == str(path) for d in diags)
    return diags


def expect(tmp_path, capsys, text, line: int, col: int, message: str, name: str = "spec.net", *options: str):
    """The first error is at ``line``:``col`` (caret there too) and says ``message``."""
    diags = errors(tmp_path, capsys, text, name, *options)
    d = diags[0]
    assert message in d["msg"], d
    assert (d["line"], d["col"]) == (line, col), d
    assert d["caret"] == col, d
    return diags


# ------------------------------------------------------------------- block strings, both forms
BLOCK_ERRORS = [
    # (blocks, index of the bad block, offset of the error in it, message)
    pytest.param(["cnn_k3_c8"], 0, 0, "unknown block type `cnn`; did you mean `cn`?", id="unknown-block-type"),
    pytest.param(["cn_k3_c8_bm"], 0, 9, "unknown argument `bm`; did you mean `bn`?", id="unknown-arg-code"),
    pytest.param(["cn_K3_c8"], 0, 3, "unknown argument `K3`; did you mean `k3`?", id="unknown-arg-code-case"),
    pytest.param(["cnt:img#:img#"], 0, 0, "unknown op `cnt:`; did you mean `cnct:`?", id="unknown-op"),
    pytest.param(["cn_k3_c8_nrelu"], 0, 10, "unknown activation `relu`; did you mean `nre`?", id="unknown-act"),
    pytest.param(["ir_k3"], 0, 0, "block `ir` needs argument `c` (output channels)", id="missing-c"),
    pytest.param(["cn_k0_c8"], 0, 4, "`k0`: kernel size must be at least 1", id="k0"),
    pytest.param(["cn_k3_s0_c8"], 0, 7, "`s0`: stride must be at least 1", id="s0"),
    pytest.param(["cn_r0_k3_c8"], 0, 4, "`r0`: repeats must be at least 1", id="r0"),
    pytest.param(["cn_k3_c0"], 0, 7, "`c0`: output channels must be at least 1", id="c0"),
    pytest.param(["cn_k-3_c8"], 0, 4, "`k-3`: kernel size must be at least 1", id="negative"),
    pytest.param(["ir_k3_e0_c8"], 0, 7, "`e0`: expansion ratio must be greater than 0", id="e0"),
    pytest.param(["cn_r1000000000_k3_c8"], 0, 4,
                 "exceeds the limit of 1000 (raise it with `--limit repeats=1000000000`)", id="r-absurd"),
    pytest.param(["cn_k3_c99999999"], 0, 7, "exceeds the limit of 65536 (raise it with `--limit channels=99999999`)",
                 id="c-absurd"),
    pytest.param(["ir_k3_e99999_c8"], 0, 7, "exceeds the limit of 1000 (raise it with `--limit expansion=99999`)",
                 id="e-absurd"),
    pytest.param(["cn_k3_c" + "9" * 40], 0, 7, "is beyond any limit", id="c-40-digits"),
    pytest.param(["cn_k3_c8_k5"], 0, 9, "argument `k` given twice (first at column", id="repeated-code"),
    pytest.param(["cn_bnfoo_k3_c8"], 0, 5, "`bn` is a flag and takes no value (found `bnfoo`)", id="flag-value"),
    pytest.param(["cn_k3_c8_nhs", "cn_k3_c8_nhs", "cn_k3_c8", "cn_k3_c8"], 0, 0, "", id="valid-control"),
    pytest.param(["a#cn_k3_c8", "a#cn_k3_c8"], 1, 0, "duplicate name `a#`", id="duplicate-label"),
    pytest.param(["cnct:img#:zz#"], 0, 10, "unknown name `zz#`", id="unknown-ref"),
    pytest.param(["cnct:img#:imgg#"], 0, 10, "unknown name `imgg#`; did you mean `img#`?", id="unknown-ref-dym"),
    pytest.param(["cn_k3_c8", "cnct:layer_0#:img#"], 1, 5, "unknown name `layer_0#`", id="unlabelled-ref"),
    pytest.param(["cnct:later#:img#", "later#cn_k3_c8"], 0, 5, "`later#` is defined later (line", id="later-ref"),
    pytest.param(["cnct:s#:img#"], 0, 5, "`s#` is the stack being defined", id="own-stack-ref"),
    pytest.param(["cnct:img"], 0, 5, "an argument of `cnct:` is a name ending in `#`: write `img#`",
                 id="ref-without-hash"),
    pytest.param(["cn_k3_c8", "a#select:img#"], 1, 0, "`select:` cannot carry a label", id="select-labelled"),
    pytest.param(["up_x2"], 0, 0, "`up_x2` is an op: write it with a colon, `up_x2:`", id="op-without-colon"),
    pytest.param(["avgpool_k8", "avgpool_k7"], 1, 0, "avgpool: kernel 7x7 is larger than its 4x4 input",
                 id="kernel-larger-than-valid-input"),
    pytest.param(["a#cn_k3_c8", "b#cn_k3_c6", "mul:a#:b#"], 2, 0,
                 "mul: shapes do not broadcast: `a#` is Nx32x32x8 but `b#` is Nx32x32x6", id="mul-broadcast"),
    pytest.param(["a#cn_k3_s2_c8", "cnct:a#:img#"], 1, 0,
                 "concat: spatial sizes differ: `a#` is 16x16 (Nx16x16x8) but `img#` is 32x32", id="cnct-spatial"),
    pytest.param(["layer_2#cn_k3_c8", "cn_k3_c8", "cn_k3_c8"], 0, 0,
                 "the label `layer_2#` clashes with `layer_2`, the name of the unlabelled block",
                 id="label-clashes-with-auto-name"),
    pytest.param(["cn_k3_c8", "layer_2#cn_r3_k3_c8"], 1, 0, "the label `layer_2#` clashes with `layer_2`",
                 id="label-clashes-with-own-repeat-copy"),
]


@pytest.mark.parametrize("form", ["net", "yaml"])
@pytest.mark.parametrize("blocks, index, offset, message", BLOCK_ERRORS)
def test_block_errors(tmp_path, capsys, form, blocks, index, offset, message):
    if form == "net":
        text, name, line, col = NET(*blocks), "spec.net", 4 + index, 5 + offset
    else:
        text, name, line, col = YAML(*blocks), "spec.yaml", 5 + index, 9 + offset
    if not message:   # the control: the same template compiles
        path = tmp_path / name
        path.write_text(text)
        assert run(capsys, "summary", str(path))[0] == 0
        return
    expect(tmp_path, capsys, text, line, col, message, name)


def test_limit_option_raises_the_limit(tmp_path, capsys):
    text = NET("cn_r1001_k1_c4")
    expect(tmp_path, capsys, text, 4, 9, "exceeds the limit of 1000 (raise it with `--limit repeats=1001`)")
    path = tmp_path / "spec.net"
    code, out, err = run(capsys, "summary", "--limit", "repeats=1001", str(path))
    assert code == 0, err
    expect(tmp_path, capsys, NET("ir_k3_e2000_c8"), 4, 12, "`--limit expansion=2000`")
    assert run(capsys, "summary", "--limit", "expansion=2000", str(tmp_path / "spec.net"))[0] == 0


def test_bad_limit_option(tmp_path, capsys):
    path = tmp_path / "spec.net"
    path.write_text(NET("cn_k3_c8"))
    code, _, err = run(capsys, "summary", "--limit", "repeat=5", str(path))
    assert code == 2 and "unknown limit `repeat`; did you mean `repeats`?" in err
    for bad in ("repeats=x", "repeats=" + "9" * 5000, "repeats=\u00b2"):
        code, _, err = run(capsys, "summary", "--limit", bad, str(path))
        assert code == 2 and "expected NAME=INTEGER" in err and "Traceback" not in err


# ------------------------------------------------------------------- `.net` syntax
@pytest.mark.parametrize("text, line, col, message", [
    pytest.param(NET("cn_k3_c8 ?"), 4, 14, "unexpected character `?`", id="stray-character"),
    pytest.param(NET("ir_k3_e2.5#_c8"), 4, 15, "unexpected `#`: a label is `name#` before the block",
                 id="hash-after-argument"),
    pytest.param(NET("cn_k3_c8#"), 4, 5, "the label `cn_k3_c8#` labels nothing", id="hash-at-end"),
    pytest.param(NET("cn _k3_c8"), 4, 8, "space inside a block string before `_k3`", id="space-in-block"),
    pytest.param(NET("cnct: img#"), 4, 11, "the label `img#` labels nothing", id="label-without-block"),
    pytest.param("input img#norm1 32x32x3\ns#:\n    select:img#\n    cn_k3_c8\u2028\noutput s#\n", 4, 13,
                 "unexpected character `U+2028`", id="invisible-character"),
    pytest.param("input img#norm1 32x32x3\n    cn_k3_c8\noutput s#\n", 2, 5, "block outside any stack",
                 id="block-outside-stack"),
    pytest.param("input img#norm1 32x32\n", 1, 17, "an input size is HxWxC, channels included: `32x32x3`",
                 id="size-without-channels"),
])
def test_net_syntax_errors(tmp_path, capsys, text, line, col, message):
    expect(tmp_path, capsys, text, line, col, message)


# ------------------------------------------------------------------- YAML syntax and types
def _yaml_text() -> str:
    return (SPECS / "mobilenet_v3.yaml").read_text()


@pytest.mark.parametrize("edit, line, col, message", [
    pytest.param(("model_def:", "model_def: ["), 6, 3, "YAML syntax error", id="syntax"),
    pytest.param(("    - [cn_bn_r1_k3_s2_c16_nhs]", "    - [cn_bn_r1_k3_s2_c16_nhs\t"), 8, 30, "YAML syntax error",
                 id="syntax-tab"),
    pytest.param(("in_chs: [3]", "in_chs: [3]\x00"), 22, 12, "YAML does not allow the character `\\x00`",
                 id="control-character"),
    pytest.param(("[cn_bn_r1_k3_s2_c16_nhs]", "[42]"), 8, 8, "expected a block string, found a number",
                 id="number-for-block-string"),
    pytest.param(("    - [cn_bn_r1_k3_s2_c16_nhs]", "    - 42"), 8, 7,
                 "each entry of stack `backbone#` must be a list of block strings, found a number",
                 id="number-for-group"),
    pytest.param(("  backbone#:\n", "  backbone#: {a: 1}\n  other#:\n"), 6, 14,
                 "stack `backbone#` must be a list of lists of block strings, found a mapping",
                 id="mapping-for-list"),
    pytest.param(("model_outs: [backbone#]", "model_outz: [backbone#]"), 21, 1,
                 "unknown key `model_outz`; did you mean `model_outs`?", id="unknown-key"),
    pytest.param(("model_outs: [backbone#]\n", ""), 4, 1, "missing key `model_outs`", id="missing-key"),
    pytest.param(("in_chs: [3]\n", ""), 20, 12, "missing key `in_chs`", id="missing-in-chs"),
    pytest.param(("model_ins: inputs#", "model_ins: [inputs#]"), 20, 12,
                 "expected the input stack's name (`model_ins`), found a list", id="list-for-name"),
    pytest.param(("model_ins: inputs#", "model_ins: input#"), 20, 12,
                 "`model_ins` names `input#`, but `model_def` has no such stack; did you mean `inputs#`?",
                 id="unknown-model-ins"),
    pytest.param(("  backbone#:\n", "  backbone:\n"), 6, 3, "`backbone` is not a name", id="stack-name-without-hash"),
    pytest.param(("[[img#norm1]]", "[[img#norm1 224x224x3]]"), 5, 14, "a YAML input is `name#` or `name#op`",
                 id="size-in-yaml-input"),
    pytest.param(("in_chs: [3]", "in_chs: [3, 1]"), 22, 9, "`in_chs` has 2 entries but `inputs#` declares 1 input",
                 id="in-chs-disagree"),
    pytest.param(("in_chs: [3]", "in_chs: [0]"), 22, 10, "`in_chs` must hold positive integers, found 0",
                 id="in-chs-zero"),
    pytest.param(("in_chs: [3]", "in_chs: [three]"), 22, 10, "`in_chs` must hold integers, found a string",
                 id="in-chs-string"),
    pytest.param(("input_size: [224, 224]", "input_size: [224, 224, 3]"), 23, 13, "`input_size` must be [H, W]",
                 id="input-size-length"),
    pytest.param(('["select:img#"]', '["select:img#", "cn_k3_c8 x"]'), 7, 33,
                 "space inside a block string before `x`", id="space-in-block-string"),
    pytest.param(('["select:img#"]', '["select:img#", "cn_k3\\tc8"]'), 7, 23, "space inside a block string",
                 id="escaped-block-string-points-at-whole-string"),
])
def test_yaml_errors(tmp_path, capsys, edit, line, col, message):
    old, new = edit
    text = _yaml_text()
    assert old in text
    expect(tmp_path, capsys, text.replace(old, new, 1), line, col, message, "spec.yaml")


# ------------------------------------------------------------------- inputs
@pytest.mark.parametrize("form", ["net", "yaml"])
def test_unknown_input_op(tmp_path, capsys, form):
    if form == "net":
        expect(tmp_path, capsys, NET("cn_k3_c8").replace("norm1", "norm2"), 1, 11,
               "unknown input op `norm2`; did you mean `norm1`?")
    else:
        expect(tmp_path, capsys, YAML("cn_k3_c8").replace("norm1", "norm2"), 2, 18,
               "unknown input op `norm2`; did you mean `norm1`?", "spec.yaml")


@pytest.mark.parametrize("form", ["net", "yaml"])
def test_huge_input_size(tmp_path, capsys, form):
    msg = "size 99999 exceeds the limit of 16384 (raise it with `--limit input_size=99999`)"
    if form == "net":
        expect(tmp_path, capsys, NET("cn_k3_c8", size="99999x32"), 1, 17, msg)   # at the size
        path = tmp_path / "spec.net"
    else:
        expect(tmp_path, capsys, YAML("cn_k3_c8", size="[99999, 32]"), 9, 14, msg, "spec.yaml")
        path = tmp_path / "spec.yaml"
    code, _, err = run(capsys, "summary", "--limit", "input_size=99999", str(path))
    assert code == 0, err


def test_absurd_input_size_and_channels(tmp_path, capsys):
    expect(tmp_path, capsys, NET("cn_k3_c8", size="9" * 30 + "x32"), 1, 17, "is beyond any limit")
    expect(tmp_path, capsys, NET("cn_k3_c8").replace("32x32x3", "32x32x999999"), 1, 23,
           "999999 channels exceeds the limit of 65536 (raise it with `--limit channels=999999`)")
    expect(tmp_path, capsys, NET("cn_k3_c8", size="0x32"), 1, 17, "a size must be at least 1, found 0")


@pytest.mark.parametrize("form", ["net", "yaml"])
def test_pre_needs_a_static_size(tmp_path, capsys, form):
    msg = "activation `pre` (PReLU with one alpha per H x W x C element"
    if form == "net":
        expect(tmp_path, capsys, NET("cn_k3_c8_npre", size="?x?"), 4, 5, msg)
    else:
        expect(tmp_path, capsys, YAML("cn_k3_c8_npre", size="null"), 5, 9, msg, "spec.yaml")


def test_duplicate_input(tmp_path, capsys):
    expect(tmp_path, capsys, "input img#norm1 32x32x3 img# 32x32x1\n" + NET("cn_k3_c8").split("\n", 1)[1], 1, 25,
           "duplicate name `img#`: an input reuses a name")


# ------------------------------------------------------------------- stacks, selects, outputs
@pytest.mark.parametrize("text, line, col, message", [
    pytest.param("input img#norm1 32x32x3\ns#:\n    cn_k3_c8\noutput s#\n", 3, 5,
                 "stack `s#` must start with `select:NAME#`", id="stack-without-select"),
    pytest.param("input img#norm1 32x32x3\ns#:\n    select:\noutput s#\n", 3, 5,
                 "`select:` needs at least one name", id="empty-select"),
    pytest.param("input img#norm1 32x32x3\ns#:\noutput s#\n", 2, 1, "stack `s#` is empty", id="empty-stack"),
    pytest.param("input img#norm1 32x32x3\ns#:\n    select:img#:img#\n    cn_k3_c8\noutput s#\n", 4, 5,
                 "`cn_k3_c8` takes one tensor, but the stack holds 2 from a multi-select", id="layer-after-multi"),
    pytest.param("input img#norm1 32x32x3\ns#:\n    select:t#\nt#:\n    select:img#\noutput s#\n", 3, 12,
                 "`t#` is defined later (line 4)", id="select-later-stack"),
    pytest.param("input img#norm1 32x32x3\ns#:\n    select:img#\ns#:\n    select:img#\noutput s#\n", 4, 1,
                 "duplicate name `s#`: a stack reuses a name first defined at line 2", id="duplicate-stack"),
    pytest.param(NET("cn_k3_c8", out="ss#"), 5, 8, "unknown name `ss#`; did you mean `s#`?", id="output-unknown"),
    pytest.param(NET("cn_k3_c8", out="img#"), 5, 8, "output `img#` is an input; an output names a stack or a "
                 "labelled block", id="output-input"),
    pytest.param(NET("cn_k3_c8", out="s# s#"), 5, 11, "output `s#` is listed twice", id="output-twice"),
    pytest.param(NET("cn_k3_c8").replace("output s#\n", ""), 4, 13, "the spec names no output", id="no-output"),
])
def test_stack_errors_net(tmp_path, capsys, text, line, col, message):
    expect(tmp_path, capsys, text, line, col, message)


@pytest.mark.parametrize("edit, line, col, message", [
    pytest.param(('    - ["select:img#"]\n', '    - ["cn_k3_c8"]\n'), 4, 9, "stack `s#` must start with `select:NAME#`",
                 id="stack-without-select"),
    pytest.param(('    - ["select:img#"]\n', '    - ["select:"]\n'), 4, 9, "`select:` needs at least one name",
                 id="empty-select"),
    pytest.param(('  s#:\n    - ["select:img#"]\n    - ["cn_k3_c8"]\n', "  s#: []\n"), 3, 3, "stack `s#` is empty",
                 id="empty-stack"),
    pytest.param(('"select:img#"', '"select:img#:img#"'), 5, 9, "takes one tensor, but the stack holds 2",
                 id="layer-after-multi"),
    pytest.param(("model_outs: [s#]", "model_outs: [ss#]"), 7, 14, "unknown name `ss#`; did you mean `s#`?",
                 id="output-unknown"),
    pytest.param(('  s#:\n', '  s#:\n    - ["select:img#"]\n  s#:\n'), 5, 3, "duplicate stack `s#`",
                 id="duplicate-stack"),
])
def test_stack_errors_yaml(tmp_path, capsys, edit, line, col, message):
    old, new = edit
    text = YAML("cn_k3_c8")
    assert old in text
    expect(tmp_path, capsys, text.replace(old, new, 1), line, col, message, "spec.yaml")


@pytest.mark.parametrize("name", ["openpose.net", "openpose.yaml"])
def test_openpose_at_200_names_both_operands(tmp_path, capsys, name):
    text = (SPECS / name).read_text().replace("224x224", "200x200").replace("[224, 224]", "[200, 200]")
    lines = text.split("\n")
    line = next(i for i, ln in enumerate(lines, 1) if "cnct:c3#:upscaled_c4#" in ln)
    col = lines[line - 1].index("cnct:c3#") + 1
    diags = expect(tmp_path, capsys, text, line, col,
                   "concat: spatial sizes differ: `c3#` is 25x25 (Nx25x25x40) but `upscaled_c4#` is 26x26 "
                   "(Nx26x26x112)", name)
    assert len(diags) == 1   # the stages that use the backbone are not reported again


# ------------------------------------------------------------------- files
@pytest.mark.parametrize("name", ["spec.net", "spec.yaml"])
def test_empty_files(tmp_path, capsys, name):
    for text in ("", "\n\n", "// nothing\n" if name.endswith(".net") else "# nothing\n"):
        diags = errors(tmp_path, capsys, text, name)
        assert len(diags) == 1 and "empty spec" in diags[0]["msg"]
        assert (diags[0]["line"], diags[0]["col"]) == (1, 1)


@pytest.mark.parametrize("name", ["spec.net", "spec.yaml"])
def test_non_utf8(tmp_path, capsys, name):
    good = NET("cn_k3_c8") if name.endswith(".net") else YAML("cn_k3_c8")
    data = good.encode().replace(b"cn_k3_c8", b"cn_k3_c8\xff", 1)
    line = good.split("\n").index(next(ln for ln in good.split("\n") if "cn_k3_c8" in ln)) + 1
    col = good.split("\n")[line - 1].index("cn_k3_c8") + 9
    diags = errors(tmp_path, capsys, data, name)
    assert "not UTF-8 text (byte 0xff)" in diags[0]["msg"]
    assert (diags[0]["line"], diags[0]["col"]) == (line, col)


def test_directory_and_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "summary", str(tmp_path))
    assert code == 2 and "is a directory, not a spec file" in err and "Traceback" not in err
    code, _, err = run(capsys, "summary", str(tmp_path / "nope.net"))
    assert code == 2 and "no such file" in err and "Traceback" not in err


# ------------------------------------------------------------------- several errors at once
def test_independent_errors_are_all_reported(tmp_path, capsys):
    text = ("input img#norm1 32x32x3\n"          # 1
            "a#:\n"                              # 2
            "    select:img#\n"                  # 3
            "    cn_k3_c8_nfoo\n"                # 4  unknown activation
            "    zz_k3\n"                        # 5  unknown block type, after a failed block
            "b#:\n"                              # 6
            "    select:nope#\n"                 # 7  unknown name
            "c#:\n"                              # 8
            "    select:a#\n"                    # 9  depends on a#: not reported again
            "    cn_k3_c8\n"                     # 10
            "d#:\n"                              # 11
            "    select:img#\n"                  # 12
            "    cn_k0_c8\n"                     # 13 out of range
            "output a# c# q#\n")                 # 14 unknown output
    diags = errors(tmp_path, capsys, text)
    assert [(d["line"], d["col"]) for d in diags] == [(4, 15), (5, 5), (7, 12), (13, 9), (14, 14)]
    assert [d["caret"] for d in diags] == [d["col"] for d in diags]
    for d, msg in zip(diags, ["unknown activation `foo`", "unknown block type `zz`", "unknown name `nope#`",
                              "`k0`: kernel size must be at least 1", "unknown name `q#`"]):
        assert msg in d["msg"]


def test_independent_yaml_errors_are_all_reported(tmp_path, capsys):
    """Errors of reading the YAML are reported together (checking the model waits until it reads)."""
    text = YAML("cn_k3 _c8", "cn_k3_c8 x").replace("in_chs: [3]", "in_chs: [3, 3]")
    diags = errors(tmp_path, capsys, text, "spec.yaml")
    assert [(d["line"], d["col"]) for d in diags] == [(5, 15), (6, 18), (9, 9)]
    assert "space inside a block string before `_c8`" in diags[0]["msg"]
    assert "space inside a block string before `x`" in diags[1]["msg"]
    assert "`in_chs` has 2 entries" in diags[2]["msg"]
    text = YAML("cn_k3_c8_nfoo", "zz_k3").replace("model_outs: [s#]", "model_outs: [s#, q#]")
    diags = errors(tmp_path, capsys, text, "spec.yaml")
    assert [(d["line"], d["col"]) for d in diags] == [(5, 19), (6, 9), (8, 18)]


# ------------------------------------------------------------------- outputs are not written on failure
def test_failing_build_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.net"
    spec.write_text(NET("cn_k3_c8_nfoo"))
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"previous model \x00\x01")
    before = existing.read_bytes()
    code, _, err = run(capsys, "build", str(spec), "-o", str(existing))
    assert code == 2 and "unknown activation `foo`" in err
    assert existing.read_bytes() == before
    for out in ("new.onnx", "new.keras", "saved_model"):
        code, _, err = run(capsys, "build", str(spec), "-o", str(tmp_path / out))
        assert code == 2 and "Traceback" not in err
        assert not (tmp_path / out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.net", "model.onnx"]


# ------------------------------------------------------------------- internal errors
def test_internal_error_is_one_line_and_debug_reraises(tmp_path, capsys, monkeypatch):
    from netc.semantic import analyze

    def boom(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(analyze.Analyzer, "run", boom)
    spec = tmp_path / "ok.net"
    spec.write_text(NET("cn_k3_c8"))
    code, out, err = run(capsys, "summary", str(spec))
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("netc: internal error: RuntimeError: boom")
    assert "--debug" in err and "Traceback" not in err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "summary", str(spec)])


def test_fmt_to_yaml_of_an_input_without_size(tmp_path, capsys):
    path = tmp_path / "spec.net"
    path.write_text("input img#norm1\ns#:\n    select:img#\noutput s#\n")
    code, out, err = run(capsys, "fmt", "--to", "yaml", str(path))
    assert code == 2 and out == ""
    assert f"{path}:1:7: error: input `img#` has no size; the YAML form needs its channels" in err


def test_non_utf8_column_counts_characters(tmp_path, capsys):
    data = "input img#norm1 32x32x3 // été ".encode() + b"\xff\n"
    diags = errors(tmp_path, capsys, data)
    assert (diags[0]["line"], diags[0]["col"], diags[0]["caret"]) == (1, 32, 32)


# ------------------------------------------------------------------- issue 14: each item found, kept fixed
def test_deeply_nested_yaml_is_a_located_error(tmp_path, capsys):
    diags = errors(tmp_path, capsys, "model_def: " + "[" * 500 + "]" * 500 + "\n", "spec.yaml")
    assert diags[0]["line"] == 1 and "YAML nested more than 64 levels deep" in diags[0]["msg"]


@pytest.mark.parametrize("brk", ["\r", "\u2028", "\r\n", "\x85"])
def test_non_utf8_yaml_located_with_yaml_line_breaks(tmp_path, capsys, brk):
    text = YAML("cn_k3_c8").replace("\n", brk)
    data = text.encode().replace(b"cn_k3_c8", b"cn_k3_c8\xff", 1)
    diags = errors(tmp_path, capsys, data, "spec.yaml")
    assert "not UTF-8 text (byte 0xff)" in diags[0]["msg"]
    assert (diags[0]["line"], diags[0]["col"], diags[0]["caret"]) == (5, 17, 17)   # as in the `\n` file


def test_truncated_file_reports_its_real_error_first(tmp_path, capsys):
    text = "input img#norm1 32x32x3\ns#:\n    select:img#\n    cn_k3_c8_nfo"
    diags = errors(tmp_path, capsys, text)
    assert [(d["line"], d["col"]) for d in diags] == [(4, 15), (4, 17)]   # just past `nfo`
    assert "unknown activation `fo`" in diags[0]["msg"] and "the spec names no output" in diags[1]["msg"]


def test_failed_block_makes_no_false_errors_after_it(tmp_path, capsys):
    text = ("input img#norm1 32x32x3\ns#:\n    select:img#\n"
            "    cn_k3_c8_nfoo\n"          # 4: the one root cause
            "    up#cn_k3_c8\n"            # 5: defined after the failure
            "    cnct:up#:img#\n"          # 6: uses it
            "t#:\n    select:img#\n"
            "    a#cn_k3_c8_bad\n"         # 9: a second root cause
            "    b#cn_k3_c8\n"
            "    mul:a#:b#\n"
            "output s# t#\n")
    diags = errors(tmp_path, capsys, text)
    assert [(d["line"], d["col"]) for d in diags] == [(4, 15), (9, 16)]
    assert not any("defined later" in d["msg"] for d in diags)


def test_output_into_missing_folder_and_wrong_suffix(tmp_path, capsys):
    spec = tmp_path / "ok.net"
    spec.write_text(NET("cn_k3_c8"))
    for out, msg in [(tmp_path / "nope" / "m.onnx", "the folder"), (tmp_path / "ok.net" / "m.onnx", "is a file"),
                     (tmp_path / "m.bin", "a native Keras model is a `.keras` file")]:
        opts = ["--format", "keras"] if out.suffix == ".bin" else []
        code, _, err = run(capsys, "build", str(spec), "-o", str(out), *opts)
        assert code == 2 and msg in err and "internal error" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.net"]


def test_savedmodel_never_replaces_a_folder_of_other_files(tmp_path, capsys):
    spec = tmp_path / "ok.net"
    spec.write_text(NET("cn_k3_c8"))
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "build", str(spec), "-o", str(folder))
    assert code == 2 and "is not a SavedModel" in err, err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_outputs_get_the_mode_of_a_plain_file(tmp_path, capsys):
    """ONNX and .npz outputs alike: 0666 & ~umask (0644 under umask 022), written through netc/atomic.py."""
    import os

    from netc.compiler import compile as compile_model
    from netc.weights.npz import save_npz
    old = os.umask(0o022)
    try:
        spec = tmp_path / "ok.net"
        spec.write_text(NET("cn_k3_c8"))
        assert run(capsys, "build", str(spec), "-o", str(tmp_path / "m.onnx"))[0] == 0
        model = compile_model(str(spec))
        save_npz(model.graph, model.weights, tmp_path / "w.npz")
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.suffix != ".net"} == \
        {"m.onnx": 0o644, "w.npz": 0o644}


def test_check_without_tensorflow_names_the_extra(tmp_path):
    """In a fresh interpreter where `import tensorflow` fails, as on an install without the `tf` extra."""
    import subprocess
    import sys
    spec = tmp_path / "ok.net"
    spec.write_text(NET("cn_k3_c8"))
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'):\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "from netc.cli import main\n"
               "main(sys.argv[1:])\n")
    for args in (["check", str(spec)], ["build", str(spec), "-o", str(tmp_path / "m.keras")]):
        proc = subprocess.run([sys.executable, "-c", blocker, *args], cwd=SPECS.parent, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "pip install 'netc[tf]'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.keras").exists()


def test_missing_path_with_hash_is_a_missing_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "summary", "no#such.net")
    assert code == 2 and "no such file: `no#such.net`" in err


def test_atol_help_claims_no_default(capsys):
    code, out, _ = run(capsys, "check", "--help")
    out = " ".join(out.split())
    assert code == 0 and "no absolute bound" in out and "1e-5" not in out


@pytest.mark.parametrize("text, line, col, message", [
    pytest.param(NET("cn_k3_c8").replace("output s#", "ouptut s#"), 5, 1,
                 "unknown statement `ouptut`; did you mean `output`?", id="output-typo"),
    pytest.param(NET("cn_k3_c8").replace("input img#norm1", "imput img#norm1"), 1, 1,
                 "unknown statement `imput`; did you mean `input`?", id="input-typo"),
    pytest.param("input img#norm1 32x32x3\ns#: select:img#\n    cn_k3_c8\noutput s#\n", 2, 3,
                 "a stack header `name#:` stands alone on its line", id="block-on-header-line"),
    pytest.param(NET("cn_k3_c8").replace("s#", "bäck#"), 2, 2,
                 "unexpected character `ä`: names, block types and arguments are ASCII", id="non-ascii-name"),
    pytest.param(NET("ir_k3_e2,5_c8"), 4, 13, "a number with a fraction is written with a point (`e2.5`)",
                 id="decimal-comma"),
    pytest.param(NET("cn_k3_c8", size="?x?x3").replace("?x?x3x3", "?x?"), 1, 17,
                 "an input size is HxWxC, channels included: `?x?x3`", id="dynamic-size-without-channels"),
    pytest.param(NET("cn_k3_c8_hs"), 4, 14, "unknown argument `hs`; did you mean `nhs`?", id="activation-without-n"),
    pytest.param(NET("cn_k3_c8_nrelu6"), 4, 15, "unknown activation `relu6`; did you mean `nr6`?",
                 id="activation-by-name"),
    pytest.param(NET("cn_k3_c8_nRE"), 4, 15, "unknown activation `RE`; did you mean `nre`?", id="activation-case"),
])
def test_messages_explain_the_notation(tmp_path, capsys, text, line, col, message):
    expect(tmp_path, capsys, text, line, col, message)


@pytest.mark.parametrize("text, name, line, col, message", [
    pytest.param("width 1.2 neerest\n" + NET("cn_k3_c8"), "spec.net", 1, 11,
                 "unknown width rounding `neerest`; did you mean `nearest`?", id="net-unknown-word"),
    pytest.param("width 1.2 near_est\n" + NET("cn_k3_c8"), "spec.net", 1, 11,
                 "found `near_est`; did you mean `nearest`?", id="net-word-with-underscore"),
    pytest.param("width 1.2 nearest 8\n" + NET("cn_k3_c8"), "spec.net", 1, 11,
                 "comes one width rounding word (`bounded`, `nearest`) or the end of the line, found `nearest 8`",
                 id="net-two-words"),
    pytest.param("depth 1.4 nearest\n" + NET("cn_k3_c8"), "spec.net", 1, 11, "unknown depth schedule `nearest`",
                 id="net-depth-word"),
    pytest.param("depth 1.4 writen\n" + NET("cn_k3_c8"), "spec.net", 1, 11,
                 "unknown depth schedule `writen`; did you mean `written`?", id="net-depth-typo"),
    pytest.param(YAML("cn_k3_c8") + "depth_schedule: written\n", "spec.yaml", 10, 1,
                 "`depth_schedule` says what `depth_multiplier`'s drop-connect counts; give `depth_multiplier` too",
                 id="yaml-schedule-alone"),
    pytest.param(YAML("cn_k3_c8") + "depth_multiplier: 1.2\ndepth_schedule: writen\n", "spec.yaml", 11, 17,
                 "unknown depth schedule `writen`; did you mean `written`?", id="yaml-schedule-typo"),
    pytest.param(YAML("cn_k3_c8") + "width_multiplier: 1.2\nwidth_rounding: neerest\n", "spec.yaml", 11, 17,
                 "unknown width rounding `neerest`; did you mean `nearest`?", id="yaml-unknown-word"),
    pytest.param(YAML("cn_k3_c8") + "width_rounding: nearest\n", "spec.yaml", 10, 1,
                 "`width_rounding` says how `width_multiplier` rounds; give `width_multiplier` too",
                 id="yaml-rounding-alone"),
    pytest.param(YAML("cn_k3_c8") + "width_multiplier: 1.2\nwidth_rounding: 8\n", "spec.yaml", 11, 17,
                 "expected a rounding word like `nearest`, found", id="yaml-number"),
])
def test_width_rounding_word_errors(tmp_path, capsys, text, name, line, col, message):
    """A rounding word after `width`'s number (YAML `width_rounding`) is `bounded` or `nearest`; a schedule
    word after `depth`'s (YAML `depth_schedule`) is `scaled` or `written`."""
    expect(tmp_path, capsys, text, line, col, message, name)


def test_yaml_block_string_messages(tmp_path, capsys):
    diags = errors(tmp_path, capsys, YAML("ir_k3_e2,5_c8", "cé_k3_c8"), "spec.yaml")
    assert [(d["line"], d["col"]) for d in diags] == [(5, 17), (6, 10)]
    assert "written with a point" in diags[0]["msg"] and "ASCII" in diags[1]["msg"]


def test_long_source_lines_are_clipped_around_the_caret(tmp_path, capsys):
    path = tmp_path / "spec.net"
    path.write_text("input " + "a" * 5000 + "#cn_k3_c8\n")
    code, _, err = run(capsys, "summary", str(path))
    lines = err.splitlines()
    assert code == 2 and lines[0].startswith(f"{path}:1:5010: error:")
    assert len(lines[1]) < 120 and lines[1].lstrip().startswith("...")
    caret = lines[2].index("^")
    assert lines[1][caret:caret + 3] == "_k3"


def test_summary_of_a_dynamic_size_prints_unknown_macs(tmp_path, capsys):
    import json
    path = tmp_path / "dyn.net"
    path.write_text(NET("cn_k3_c8", "ir_k3_e2_c8_se4", "avgpool_k2", size="?x?"))
    code, out, err = run(capsys, "summary", str(path))
    assert code == 0, err
    rows = {m[1]: m[2] for m in re.finditer(r"(layer_\d+) .* (\S+)$", out, re.M)}
    assert rows == {"layer_0": "?", "layer_1": "?", "layer_2": "0"}
    assert "MACs:    ? per image" in out
    code, out, _ = run(capsys, "summary", "--json", str(path))
    data = json.loads(out)
    assert data["macs"] is None and [b["macs"] for b in data["stacks"][0]["blocks"]] == [None, None, 0]
    path.write_text(NET("cn_k3_c8"))
    code, out, _ = run(capsys, "summary", "--json", str(path))
    assert json.loads(out)["macs"] == 32 * 32 * 8 * 3 * 3 * 3   # static size: the count, by hand
