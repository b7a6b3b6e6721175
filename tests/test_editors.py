"""editors/vscode: the extension's JSON files parse, its manifest names what VS Code and vsce need, and the
TextMate grammar's rules compile and give a block line's parts the scopes they are meant to have."""
from __future__ import annotations

import json
import re
from pathlib import Path

VSCODE = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def _rules(node, out):
    if isinstance(node, dict):
        if "match" in node:
            out.append((re.compile(node["match"]), node.get("name"), node.get("captures", {})))
        for p in node.get("patterns", []):
            _rules(p, out)
    return out


def test_manifest_and_configuration():
    pkg = json.loads((VSCODE / "package.json").read_text())
    for key in ("name", "displayName", "description", "version", "publisher", "engines", "main", "contributes"):
        assert key in pkg, key
    assert (VSCODE / pkg["main"]).is_file()
    lang = pkg["contributes"]["languages"][0]
    assert lang["extensions"] == [".net"] and (VSCODE / lang["configuration"]).is_file()
    grammar = pkg["contributes"]["grammars"][0]
    assert (VSCODE / grammar["path"]).is_file() and grammar["language"] == lang["id"]
    assert pkg["dependencies"]["vscode-languageclient"] and "netc.command" in pkg["contributes"]["configuration"][
        "properties"]
    conf = json.loads((VSCODE / "language-configuration.json").read_text())
    assert conf["comments"]["lineComment"] == "//"
    assert re.match(conf["indentationRules"]["increaseIndentPattern"], "backbone#:  // the stem")
    assert re.match(conf["indentationRules"]["increaseIndentPattern"], "template sp_l_t:")
    assert not re.match(conf["indentationRules"]["increaseIndentPattern"], "    cn_k3_c8")


def _scopes(line: str, rules) -> list[tuple[str, str]]:
    """First-matching rule at each position, as a TextMate tokenizer takes them (one line, no begin/end)."""
    out, i = [], 0
    while i < len(line):
        for rx, name, caps in rules:
            m = rx.match(line, i)
            if m and m.end() > i:
                if caps:
                    out += [(m.group(int(k)), c["name"]) for k, c in sorted(caps.items()) if m.group(int(k))]
                else:
                    out.append((m.group(0), name))
                i = m.end()
                break
        else:
            i += 1
    return out


def test_grammar_scopes():
    g = json.loads((VSCODE / "syntaxes" / "netc.tmLanguage.json").read_text())
    assert g["scopeName"] == "source.netc"
    rules = []
    for p in g["patterns"]:
        _rules(g["repository"][p["include"][1:]], rules)
    got = dict(_scopes("    c3#ir_r3_k5_s2_e3_c40_se4_nre  cnct:a#:b#  // note", rules))
    assert got["c3#"] == "entity.name.label.netc" and got["ir"] == "support.type.block.netc"
    assert got["k"] == "variable.parameter.argument.netc" and got["5"] == "constant.numeric.argument.netc"
    assert got["cnct"] == "keyword.operator.op.netc" and got["a#"] == "variable.other.reference.netc"
    assert got["// note"] == "comment.line.double-slash.netc"
    got = dict(_scopes("input img#norm1 224x224x3", rules))
    assert got["input"] == "keyword.other.statement.netc" and got["224x224x3"] == "constant.numeric.shape.netc"
    got = dict(_scopes("template sp_l_t:", rules))
    assert got["sp"] == "entity.name.function.template.netc" and got["_l_t"] == "variable.parameter.template.netc"
    got = dict(_scopes("backbone#:", rules))
    assert got["backbone#"] == "entity.name.type.stack.netc"
    got = dict(_scopes("width 1.2 nearest", rules))
    assert got["width"] == "keyword.other.scale.netc" and got["nearest"] == "support.constant.rounding.netc"
