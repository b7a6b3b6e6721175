"""Fuzzing the surfaces that came after the first corpus: templates, the modular YAML form and ops with
arguments, generated from the registry (every block type, op and argument code with values of its kind) and
from the grammar's shapes (template headers, bodies with placeholders, uses with arguments and references).

Each case compiles, or fails with NetcErrors that are all located inside the file and render; where only one
line varies (an op with arguments), every error is on that line. Nothing here needs TensorFlow. Marked `fuzz`:
10,000 cases at the default scale (NETC_FUZZ_SCALE multiplies it, as for tests/test_fuzz.py).
"""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netc.blocks import REGISTRY
from netc.diagnostics import NetcError
from netc.frontends.load import parse_source
from netc.registry.kinds import ActKind, FlagKind, IntKind, RatioKind, WordKind
from netc.semantic.analyze import analyze
from netc.semantic.summary import summary_data
from test_fuzz import FUZZ, ONE_LINE, SPEC_DIR, _assert_located, _examples, _one_block_spec

PARAMS = ["c", "k", "s", "l", "n", "e", "x"]
LABELS = ["", "", "", "a#", "b#", "{l}#", "{p}#", "img#"]
REFS = ["img#", "a#", "b#", "s#", "q#", "{1}", "{2}", "{refs}", "{l}#"]


def _values(code: str) -> list[str]:
    """Values for argument ``code``: one its kind accepts, and the usual mistakes."""
    kind = REGISTRY.arg_codes[code].kind
    good = kind.example(code)[len(code):]
    common = ["", "0", "-1", "2.5", "1/3", "99999999999", "x"]   # together about 1 draw in 10
    if isinstance(kind, IntKind):
        return [good, "1", "2", "8", "16"] * 12 + common
    if isinstance(kind, RatioKind):
        return [good, "1", "0.25", "4"] * 15 + common
    if isinstance(kind, ActKind):
        return list(REGISTRY.activations) * 4 + ["relu", "foo", ""]
    if isinstance(kind, FlagKind):
        return [""] * 20 + ["1"]
    if isinstance(kind, WordKind):
        return list(kind.choices) * 10 + ["nope", ""]
    return [good] * 60 + common


def _picks(r: random.Random, pool: list, lo: int, hi: int) -> list:
    return [r.choice(pool) for _ in range(r.randint(lo, hi))]


# the blocks most specs are made of; the rest of the registry comes up one draw in six
USUAL = ("cn", "ir", "res", "bt", "rv", "act", "maxpool", "avgpool", "dropout", "cn2", "cbn", "spblk")


def layer_text(r: random.Random, params: list[str] | None = None, refs: list[str] = REFS[:2]) -> str:
    """A layer or op with arguments, from the registry: its code, its required argument codes and some optional
    ones (now and then one it does not take) with values of their kinds; inside a template (``params``), `{p}`
    placeholders too. An op takes some of ``refs``."""
    ops_with_args = sorted(c for c, o in REGISTRY.ops.items() if o.params)
    usual = [c for c in USUAL if c in REGISTRY.blocks]
    if ops_with_args and r.random() < 0.08:
        code = r.choice(ops_with_args)
        entry = REGISTRY.ops[code]
    else:
        code = r.choice(usual) if usual and r.random() < 0.85 else r.choice(sorted(REGISTRY.blocks))
        entry = REGISTRY.blocks[code]
    required = [c for c, p in entry.params.items() if p.required]
    optional = [c for c, p in entry.params.items() if not p.required]
    codes = (required if r.random() < 0.9 else required[1:]) + r.sample(optional, r.randint(0, min(3, len(optional))))
    if r.random() < 0.05:
        codes.append(r.choice(sorted(REGISTRY.arg_codes)))   # a code it may not take
    args = []
    for c in codes:
        if params and r.random() < 0.3:
            args.append(c + "{" + r.choice(params if r.random() < 0.9 else PARAMS) + "}")
        else:
            args.append(c + r.choice(_values(c)))
    text = "_".join([code, *args])
    if code in REGISTRY.ops:
        text += ":" + ":".join(_picks(r, refs, 1, 2))
    return text


def _mutate(r: random.Random, text: str) -> str:
    """At most one character inserted, replaced or deleted, from the characters that keep a line one line."""
    if not text or r.random() < 0.5:
        return text
    i = r.randint(0, len(text))
    op = r.randint(0, 2)
    ch = r.choice(ONE_LINE + ["\u00a0", "{", "}", "{{"])
    return text[:i] + (ch if op < 2 else "") + text[i + (op > 0):]


# --------------------------------------------------------------------------- templates, both forms
@st.composite
def template_specs(draw):
    """A spec with templates (headers with parameters, bodies of registry blocks with placeholders, labels,
    references, uses of other templates) and a stack using them with right and wrong arguments."""
    r = draw(st.randoms(use_true_random=True))
    names = r.sample(["t", "u", "blk", "sp", "t2"], r.randint(1, 3))
    if r.random() < 0.05:
        names.append(r.choice(["cn", "t"]))   # a built-in's name, or a template defined twice
    templates, lines = [], []
    for name in names:
        params = r.sample(PARAMS[:5], r.randint(0, 3))
        if r.random() < 0.03:
            params.append(params[0] if params else "c")   # a parameter listed twice
        body = []
        for _ in range(r.randint(1, 3) if r.random() < 0.95 else 0):
            blocks = []
            for _ in range(r.randint(1, 2)):
                if templates and r.random() < 0.2:
                    inner, inner_params = r.choice(templates)
                    blocks.append(inner + "".join(f"_{p}{{{r.choice(params)}}}" if params else f"_{p}8"
                                                  for p in inner_params))
                else:
                    label = ("{l}#" if "l" in params and r.random() < 0.2 else
                             "a#" if r.random() < 0.03 else "")
                    blocks.append(label + layer_text(r, params, ["{1}", "{refs}", "img#"]))
            body.append(" ".join(blocks))
        templates.append((name, params))
        lines.append("template " + "_".join([name, *params]) + ":")
        lines += ["    " + b for b in body]
    uses = []
    for _ in range(r.randint(1, 4)):
        name, params = r.choice(templates)
        given = _picks(r, params + ["z"], 0, len(params) + 1) if r.random() < 0.1 else params
        args = "".join(f"_{p}{r.choice(['8', '3', '1', '2', '4', '16'] * 3 + ['x', '', '0'])}" for p in given)
        refs = _picks(r, ["img#"] * 4 + ["a#", "s#", "q#"], 1, 2)
        label = r.choice(["a#", "b#", "c#"]) if r.random() < 0.15 else ""
        uses.append(label + name + args + (":" + ":".join(refs) if refs else ""))
    form = r.choice(["net", "yaml"])
    if form == "net":
        text = ("input img# 16x16x3\n" + "\n".join(lines) + "\ns#:\n    select:img#\n"
                + "".join(f"    {u}\n" for u in uses) + "output s#\n")
        return "tpl.net", _mutate(r, text)
    block = "".join(f"  {ln}\n" for ln in lines)
    body = "".join(f"    - [{json.dumps(u)}]\n" for u in uses)
    text = (f"templates: |\n{block}model_def:\n  inputs#: [[img#]]\n  s#:\n    - [\"select:img#\"]\n{body}"
            "model_ins: inputs#\nmodel_outs: [s#]\nin_chs: [3]\ninput_size: [16, 16]\n")
    return "tpl.yaml", _mutate(r, text)


def _compile_or_located(name: str, text: str) -> None:
    try:
        checked = analyze(parse_source(text, name))
    except NetcError as err:
        _assert_located(err, name, text)
        return
    summary_data(checked)


@pytest.mark.fuzz
@settings(max_examples=_examples(4000), **FUZZ)
@given(template_specs())
def test_template_specs_compile_or_fail_located(case):
    _compile_or_located(*case)


# --------------------------------------------------------------------------- the modular form
KWARG_VALUES = [3, 8, 1, 0, -1, 2.5, True, False, None, "re", "x", [1, 2], {"a": 1}, "8", 10 ** 30]


def _kwarg(r: random.Random, code: str):
    """A kwarg for argument ``code``: mostly a value of its kind as YAML types it, else any YAML value."""
    if code not in REGISTRY.arg_codes or r.random() < 0.15:
        return r.choice(KWARG_VALUES)
    if isinstance(REGISTRY.arg_codes[code].kind, FlagKind):
        return r.random() < 0.9
    text = r.choice(_values(code)) or "1"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@st.composite
def modular_specs(draw):
    """A modular YAML spec: modules of registry block types (kwargs their argument codes, typed values), ops
    on `prev`, template uses, unknown types, duplicate and forward names, YAML anchors and aliases."""
    r = draw(st.randoms(use_true_random=True))
    usual = [c for c in USUAL if c in REGISTRY.blocks]
    types = usual * 4 + sorted(REGISTRY.blocks) + sorted(REGISTRY.ops) + ["t", "t", "unknown"]
    modules, defined = [], []
    for i in range(r.randint(1, 4)):
        mtype = r.choice(types)
        params = list(REGISTRY.blocks[mtype].params) if mtype in REGISTRY.blocks else \
            list(REGISTRY.ops[mtype].params) if mtype in REGISTRY.ops else ["c"]
        entry = REGISTRY.blocks.get(mtype) or REGISTRY.ops.get(mtype)
        required = [c for c, p in entry.params.items() if p.required] if entry else []
        kwargs = {c: _kwarg(r, c) for c in required if r.random() < 0.95}
        for _ in range(r.randint(0, 2)):
            code = r.choice(params) if params and r.random() < 0.9 else "zz"
            kwargs[code] = _kwarg(r, code)
        if mtype in REGISTRY.blocks and "c" in REGISTRY.blocks[mtype].params and (r.random() < 0.5):
            kwargs["c"] = 8
        name = f"m{i}" if r.random() < 0.95 else r.choice(["m0", "stem", "1x", "img", "a b"])
        mod = {"name": name, "type": mtype}
        if defined and (r.random() < 0.5):
            prev = _picks(r, defined if r.random() < 0.9 else defined + ["nowhere"], 1, 2)
            mod["prev"] = prev if len(prev) > 1 or (r.random() < 0.5) else prev[0]
        if kwargs or (r.random() < 0.5):
            mod["kwargs"] = kwargs
        modules.append(mod)
        defined.append(name)
    items = [f"  - {json.dumps(m)}\n" for m in modules]
    if len(items) > 1 and r.random() < 0.1:   # an anchored module used again through an alias
        items[0] = f"  - &m {json.dumps(modules[0])}\n"
        items.append("  - *m\n")
    templates = "templates: |\n  template t_c:\n    cn_k3_c{c}\n" if r.random() < 0.5 else ""
    output = "output: " + (r.choice(defined) if r.random() < 0.9 else r.choice(["nowhere", "[m0, m1]"])) + "\n" \
        if r.random() < 0.5 else ""
    text = "input: img# 16x16x3\n" + templates + "net:\n" + "".join(items) + output
    return "mod.yaml", _mutate(r, text)


@pytest.mark.fuzz
@settings(max_examples=_examples(4000), **FUZZ)
@given(modular_specs())
def test_modular_specs_compile_or_fail_located(case):
    _compile_or_located(*case)


# --------------------------------------------------------------------------- ops with arguments
@st.composite
def op_with_arguments(draw):
    r = draw(st.randoms(use_true_random=True))
    with_args = sorted(c for c, o in REGISTRY.ops.items() if o.params and c != "select")
    plain = sorted(c for c, o in REGISTRY.ops.items() if not o.params and c != "select")
    code = r.choice(with_args) if with_args and r.random() < 0.7 else r.choice(plain)
    entry = REGISTRY.ops[code]
    required = [c for c, p in entry.params.items() if p.required]
    optional = [c for c, p in entry.params.items() if not p.required]
    codes = (required if r.random() < 0.9 else required[1:]) + r.sample(optional, r.randint(0, len(optional)))
    if r.random() < 0.1:
        codes.append(r.choice(["k", "c", "s"]))   # an argument it does not take
    r.shuffle(codes)
    args = "".join(f"_{c}{r.choice(_values(c))}" for c in codes)
    refs = _picks(r, ["img#", "a#"] * 4 + ["s#", "q#"], 0, 3)
    label = r.choice(["", "", "", "b#", "a#"])
    return _mutate(r, label + code + args + ":" + ":".join(refs))


@pytest.mark.fuzz
@settings(max_examples=_examples(2000), **FUZZ)
@given(op_with_arguments(), st.sampled_from(["net", "yaml"]))
def test_ops_with_arguments_fail_on_their_line(block, form):
    name, text, line = _one_block_spec(block, form)
    try:
        checked = analyze(parse_source(text, name))
    except NetcError as err:
        _assert_located(err, name, text)
        if "//" in block and form == "net":
            return
        for d in err.diagnostics:
            assert d.span.line == line, (block, d.span, d.message)
        return
    summary_data(checked)


# --------------------------------------------------------------------------- answered in bounds
def test_generated_surfaces_are_answered_within_bounds():
    """A sample of each generator, in the bounded worker of tests/test_fuzz.py (2 s and 500 MB each)."""
    corpus: list[tuple[str, str]] = []

    @settings(max_examples=60, **FUZZ)
    @given(st.one_of(template_specs(), modular_specs()))
    def collect(case):
        corpus.append(case)

    collect()
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); "
                           "from test_fuzz import _bounded_worker; _bounded_worker()"],
                          input=json.dumps(corpus), cwd=SPEC_DIR.parent, capture_output=True, text=True,
                          timeout=10 + 2 * len(corpus))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{len(corpus)} inputs" in proc.stdout
