"""`netc lsp`: the real server as a subprocess over stdio, driven by pygls' LSP client (JSON-RPC typed by
lsprotocol). One server for the module; each test opens its own documents."""
from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from netc.cli import main  # noqa: E402
from netc.frontends.load import breaks_of, form_of  # noqa: E402
from netc.lsp.convert import Lines  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p for p in (ROOT / "tests" / "cases").iterdir() if p.suffix in (".net", ".yaml"))
TIMEOUT = 20


class Session:
    """A running server and a client, on an event loop of its own."""

    def __init__(self, *args: str, init_options=None):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("netc-tests", "1")
        self.published: dict[str, list[T.PublishDiagnosticsParams]] = {}
        self.arrived = asyncio.Event()
        self.versions: dict[str, int] = {}

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(ls, params: T.PublishDiagnosticsParams):
            self.published.setdefault(params.uri, []).append(params)
            self.arrived.set()

        self.run(self.client.start_io(sys.executable, "-c", "from netc.cli import main; main()", "lsp", *args))
        self.init = self.run(self.client.initialize_async(T.InitializeParams(
            capabilities=T.ClientCapabilities(), initialization_options=init_options,
            root_uri=ROOT.as_uri())))
        self.client.initialized(T.InitializedParams())

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))

    async def _diagnostics(self, uri: str, count: int) -> list[T.Diagnostic]:
        while len(self.published.get(uri, [])) < count:
            self.arrived.clear()
            await self.arrived.wait()
        return list(self.published[uri][count - 1].diagnostics)

    def open(self, path: str | Path, text: str | None = None) -> tuple[str, list[T.Diagnostic]]:
        """Open a document (the file's text unless ``text``); returns its uri and first diagnostics."""
        path = Path(path)
        uri = path.absolute().as_uri()
        text = path.read_text() if text is None else text
        self.versions[uri] = 1
        n = len(self.published.get(uri, [])) + 1
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "netc", 1, text)))
        return uri, self.run(self._diagnostics(uri, n))

    def edit(self, uri: str, start: tuple[int, int], end: tuple[int, int], text: str) -> list[T.Diagnostic]:
        """One incremental change; returns the diagnostics published for it."""
        self.versions[uri] += 1
        n = len(self.published.get(uri, [])) + 1
        change = T.TextDocumentContentChangePartial(T.Range(T.Position(*start), T.Position(*end)), text)
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(self.versions[uri], uri), [change]))
        return self.run(self._diagnostics(uri, n))

    def replace(self, uri: str, text: str) -> list[T.Diagnostic]:
        """A whole-document change; returns the diagnostics published for it."""
        self.versions[uri] += 1
        n = len(self.published.get(uri, [])) + 1
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(self.versions[uri], uri), [T.TextDocumentContentChangeWholeDocument(text)]))
        return self.run(self._diagnostics(uri, n))

    def close(self, uri: str) -> list[T.Diagnostic]:
        n = len(self.published.get(uri, [])) + 1
        self.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri)))
        return self.run(self._diagnostics(uri, n))

    def doc(self, uri):
        return T.TextDocumentIdentifier(uri)

    def hints(self, uri: str) -> list[T.InlayHint]:
        return self.run(self.client.text_document_inlay_hint_async(T.InlayHintParams(
            self.doc(uri), T.Range(T.Position(0, 0), T.Position(10_000, 0))))) or []

    def hover(self, uri: str, line: int, char: int) -> str | None:
        h = self.run(self.client.text_document_hover_async(T.HoverParams(self.doc(uri), T.Position(line, char))))
        return None if h is None else h.contents.value

    def complete(self, uri: str, line: int, char: int) -> list[str]:
        r = self.run(self.client.text_document_completion_async(T.CompletionParams(self.doc(uri),
                                                                                    T.Position(line, char))))
        return [i.label for i in (r.items if r else [])]

    def definition(self, uri: str, line: int, char: int):
        return self.run(self.client.text_document_definition_async(T.DefinitionParams(self.doc(uri),
                                                                                       T.Position(line, char))))

    def references(self, uri: str, line: int, char: int):
        return self.run(self.client.text_document_references_async(T.ReferenceParams(
            T.ReferenceContext(include_declaration=True), self.doc(uri), T.Position(line, char))))

    def stop(self) -> str:
        """Shut the server down; returns what it wrote on stderr."""
        server = self.client._server
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        err = self.run(server.stderr.read()).decode("utf-8", "replace") if server.stderr else ""
        self.loop.close()
        return err


@pytest.fixture(scope="module")
def lsp():
    s = Session()
    yield s
    s.stop()


def cli(*args: str, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def at(d: T.Diagnostic) -> tuple[int, int]:
    return d.range.start.line + 1, d.range.start.character + 1


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_diagnostics_agree_with_cli_on_golden_cases(lsp, case, capsys):
    code, _, err = cli("summary", str(case), capsys=capsys)
    assert code == 2
    want = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in
            re.finditer(rf"^{re.escape(str(case))}:(\d+):(\d+): error: (.*)$", err, re.M)]
    assert want
    uri, diags = lsp.open(case)
    lines = Lines(case.read_text(), breaks_of(form_of(str(case))))   # the CLI counts lines as its parser does
    got = {(*lines.parser(d.range.start.line, d.range.start.character), d.message) for d in diags
           if d.severity == T.DiagnosticSeverity.Error}
    assert set(want) <= got
    # each range covers the text the CLI's caret underlines
    under = {}
    out = err.splitlines()
    for i, ln in enumerate(out):
        m = re.match(rf"^{re.escape(str(case))}:(\d+):(\d+): error: (.*)$", ln)
        if m and i + 2 < len(out) and "^" in out[i + 2]:
            a = out[i + 2].index("^")
            under[m.group(3)] = out[i + 1][a:a + len(out[i + 2].strip())]
    editor = re.split(r"\r\n|\r|\n", case.read_text())
    for d in diags:
        assert d.range.start.line == d.range.end.line and d.range.end.character >= d.range.start.character
        if d.message in under and under[d.message].strip():
            text = editor[d.range.start.line][d.range.start.character:d.range.end.character]
            shown = "".join(c if c.isprintable() else " " if c == "\t" else "\ufffd" for c in text)   # as printed
            assert shown == under[d.message]
    assert lsp.close(uri) == []


def test_caret_width_is_the_range(lsp, capsys):
    case = ROOT / "tests" / "cases" / "one-error-per-cause.net"
    _, _, err = cli("summary", str(case), capsys=capsys)
    caret = next(ln for ln in err.splitlines() if "^" in ln)
    _, diags = lsp.open(case)
    assert diags[0].range.end.character - diags[0].range.start.character == len(caret.strip())
    assert [r.message for r in diags[0].related_information] == [err.split("note: ")[1].strip()]


def _expansion(code: str, templates: dict) -> int:
    """How many blocks a use of template ``code`` expands to (1 for a block that is no template use)."""
    if code not in templates:
        return 1
    body = [tok for ln in templates[code].lines for tok in ln.text.split("//")[0].split()]
    return sum(_expansion(re.split(r"[_:]", tok.split("#")[-1])[0], templates) for tok in body)


def _summary_hints(path: Path, capsys) -> dict[int, str]:
    """Per written line: the `netc summary --json` rows of its blocks (a template use: the rows of its
    expansion, in order), as `shape of the last · sum of params`."""
    from netc.frontends.load import load_spec
    code, out, _ = cli("summary", "--json", str(path), capsys=capsys)
    assert code == 0
    data = json.loads(out)
    written = load_spec(str(path))
    templates = {t.name: t for t in written.templates}
    want = {}
    for st, sd in zip([s for s in written.stacks if s.name != written.input_stack], data["stacks"]):
        rows = list(sd["blocks"])
        for line in st.lines:
            blocks = [b for b in line if not (b.kind == "op" and b.code == "select")]
            if not blocks:
                continue
            mine = []
            for b in blocks:
                n = _expansion(b.code, templates)
                mine, rows = mine + rows[:n], rows[n:]
            shape = "x".join("N" if i == 0 and d is None else str(d) for i, d in enumerate(mine[-1]["shape"]))
            want[line[0].span.line] = f"{shape} · {sum(b['params'] for b in mine):,} params"
        assert rows == []
    return want


@pytest.mark.parametrize("name", ["openpose.net", "spinenet49.net", "openpose.yaml"])
def test_inlay_hints_equal_summary_json(lsp, name, capsys):
    path = ROOT / "specs" / name
    want = _summary_hints(path, capsys)
    uri, diags = lsp.open(path)
    assert [d for d in diags if d.severity == T.DiagnosticSeverity.Error] == []
    hints = lsp.hints(uri)
    got = {h.position.line + 1: h.label.strip() for h in hints}
    assert got == want
    lines = path.read_text().splitlines()
    for h in hints:   # at the end of the line's text, before a comment
        assert h.position.character == len(lines[h.position.line].split("//")[0].rstrip())
    lsp.close(uri)


SMALL = """input img#norm1 32x32x3
template dwt_c:
    cn_k3_c{c}_nre
a#:
    select:img#
    x#cn_k3_s2_c8_nre
    dwt_c16
    y#cnct:x#:x#
output a#
"""


def test_hover_block_label_template(lsp, tmp_path):
    uri, diags = lsp.open(tmp_path / "s.net", SMALL)
    assert diags == []
    text = lsp.hover(uri, 5, 8)   # on `cn_k3_s2_c8_nre`
    assert "**`cn`** block" in text
    assert re.search(r"\| `k` \| kernel size \(\w+\) \| `k3` = 3 \| required \|", text)
    assert "| `s` | stride (int) | `s2` = 2 | 1 |" in text
    assert "| `n` | activation (act) | `nre` = re (ReLU) | none |" in text
    assert "| `bn` | batch norm (flag) | — | no |" in text
    assert "- input: Nx32x32x3" in text and "- output: Nx16x16x8" in text
    assert f"- parameters: {3 * 3 * 3 * 8 + 8:,}" in text
    assert f"- MACs: {16 * 16 * 8 * 3 * 3 * 3:,}" in text
    text = lsp.hover(uri, 7, 11)   # on `x#` in `cnct:x#:x#`
    assert text.startswith("**label `x#`** (line 6): `x#cn_k3_s2_c8_nre` → Nx16x16x8")
    text = lsp.hover(uri, 6, 5)    # on the template use `dw_c16`
    assert "**template `dwt`** (line 2)" in text and "cn_k3_c{c}_nre" in text
    assert lsp.hover(uri, 6, 9) .count("Nx16x16x16") == 1   # on its argument: the use's block facts
    text = lsp.hover(uri, 7, 6)   # on `cnct:`
    assert "- output: Nx16x16x16" in text and "- input: Nx16x16x8, Nx16x16x8" in text
    lsp.close(uri)


def test_completion_lists(lsp, tmp_path):
    text = SMALL.replace("    y#cnct:x#:x#\n", "    y#cnct:x#:x#\n    cn_k3_\n    \n    cnct:\n    q#\n")
    uri, _ = lsp.open(tmp_path / "c.net", text)
    args = lsp.complete(uri, 8, 10)   # after `cn_k3_`
    assert {"s", "c", "bn", "nre", "nhs"} <= set(args) and "k" not in args and "cn" not in args
    first = lsp.complete(uri, 9, 4)   # an empty indented line
    assert {"cn", "ir", "cnct:", "dwt", "input", "output"} <= set(first)
    refs = lsp.complete(uri, 10, 9)   # after `cnct:`: the names defined above
    assert {"img#", "x#", "y#", "a#"} <= set(refs) and "q#" not in refs
    after_label = lsp.complete(uri, 11, 6)   # after `q#`: a block
    assert "cn" in after_label and "input" not in after_label
    lsp.close(uri)
    uri, _ = lsp.open(tmp_path / "w.net", "width 1.2 ne\ndepth 1.4 \n" + SMALL)
    assert lsp.complete(uri, 0, 12) == ["bounded", "nearest"]   # after `width 1.2 `: the rounding words
    assert lsp.complete(uri, 0, 6) == []   # a number
    assert lsp.complete(uri, 1, 10) == ["scaled", "written"]   # after `depth 1.4 `: the schedule words
    lsp.close(uri)


def test_signature_help_for_template_parameters(lsp, tmp_path):
    text = "template sp_l_t:\n    cn_k{l}_c{t}\ninput img#norm1 8x8x3\na#:\n    select:img#\n    sp_l3_\noutput a#\n"
    uri, _ = lsp.open(tmp_path / "g.net", text)
    sig = lsp.run(lsp.client.text_document_signature_help_async(T.SignatureHelpParams(
        lsp.doc(uri), T.Position(5, 10))))
    assert sig.signatures[0].label == "sp_l_t"
    assert [p.label for p in sig.signatures[0].parameters] == [(3, 4), (5, 6)]
    assert sig.active_parameter == 1   # `l` is given: `t` is next
    lsp.close(uri)


def test_definition_references_symbols(lsp, tmp_path):
    uri, _ = lsp.open(tmp_path / "d.net", SMALL)
    (loc,) = lsp.definition(uri, 7, 11)   # `x#` in `cnct:x#:x#`
    assert (loc.range.start.line, loc.range.start.character, loc.range.end.character) == (5, 4, 6)
    (loc,) = lsp.definition(uri, 6, 5)    # the template use
    assert (loc.range.start.line, loc.range.start.character) == (1, 9)
    (loc,) = lsp.definition(uri, 8, 8)    # `a#` in `output a#`
    assert loc.range.start.line == 3
    refs = lsp.references(uri, 5, 5)      # on the label `x#`
    assert sorted((r.range.start.line, r.range.start.character) for r in refs) == [(5, 4), (7, 11), (7, 14)]
    syms = lsp.run(lsp.client.text_document_document_symbol_async(T.DocumentSymbolParams(lsp.doc(uri))))
    assert [(s.name, s.kind) for s in syms] == [("img#", T.SymbolKind.Variable), ("dwt", T.SymbolKind.Function),
                                                ("a#", T.SymbolKind.Module), ("output a#", T.SymbolKind.Event)]
    assert [c.name for c in syms[2].children] == ["x#", "y#"] and syms[2].detail == "Nx16x16x16"
    lsp.close(uri)


def test_formatting_is_netc_fmt(lsp, tmp_path, capsys):
    messy = "input   img#norm1   32x32x3 // the image\na#:\n  select:img#\n        cn_k3_c8   cn_k1_c4\noutput a#"
    path = tmp_path / "f.net"
    path.write_text(messy)
    code, want, _ = cli("fmt", str(path), capsys=capsys)
    assert code == 0 and want != messy
    uri, _ = lsp.open(path)
    (edit,) = lsp.run(lsp.client.text_document_formatting_async(T.DocumentFormattingParams(
        lsp.doc(uri), T.FormattingOptions(4, True))))
    assert edit.new_text == want
    assert (edit.range.start.line, edit.range.start.character) == (0, 0)
    assert (edit.range.end.line, edit.range.end.character) == (4, len("output a#"))
    lsp.edit(uri, (0, 0), (4, 9), want)   # the formatted text needs no edit
    assert list(lsp.run(lsp.client.text_document_formatting_async(T.DocumentFormattingParams(
        lsp.doc(uri), T.FormattingOptions(4, True)))) or []) == []
    lsp.close(uri)


MULTI = """input img#norm1 32x32x3
a#:
    select:img#
    cn_k3_c8_nfoo
b#:
    select:img#
    cn_k3_c8 ir_k3_e2,5_c8
c#:
    select:img#
    cnct:zz#:img#
d#:
    select:img#
    cn_k3_s2_c8
output a# b# c# d#
"""


def test_independent_mistakes_reported_together_and_edits(lsp, tmp_path):
    uri, diags = lsp.open(tmp_path / "m.net", MULTI)
    assert [at(d) for d in diags] == [(4, 15), (7, 22), (10, 10)]
    assert [h.position.line + 1 for h in lsp.hints(uri)] == [13]
    diags = lsp.edit(uri, (3, 14), (3, 17), "re")        # fix `nfoo` -> `nre`
    assert [at(d) for d in diags] == [(7, 22), (10, 10)]
    assert [h.position.line + 1 for h in lsp.hints(uri)] == [4, 13]
    diags = lsp.edit(uri, (6, 20), (6, 23), "2.5")       # fix the comma
    diags = lsp.edit(uri, (9, 9), (9, 12), "a#")         # fix the unknown name
    assert diags == []
    labels = {h.position.line + 1: h.label.strip() for h in lsp.hints(uri)}
    assert labels[4] == "Nx32x32x8 · 224 params" and labels[7].startswith("Nx32x32x8 · ")
    assert labels[10] == "Nx32x32x11 · 0 params" and labels[13] == "Nx16x16x8 · 224 params"
    assert lsp.close(uri) == []


def test_yaml_and_modular_forms(lsp, tmp_path):
    uri, diags = lsp.open(ROOT / "tests" / "cases" / "block-strings.yaml")
    # the first block string's error and the next one's own (the CLI reports both as well)
    assert [(*at(d), d.message.split(";")[0]) for d in diags] == [
        (5, 17, diags[0].message), (5, 35, "unknown argument `hs`")]
    lsp.close(uri)
    bad = (ROOT / "specs" / "mobilenet_v3.yaml").read_text().replace("_nhs", "_nfoo", 1)
    uri, diags = lsp.open(tmp_path / "m.yaml", bad)
    assert len(diags) == 1 and diags[0].message.startswith("unknown activation `foo`")
    lsp.close(uri)


def test_plugins_from_initialization_options(tmp_path):
    plugin = tmp_path / "myblocks.py"
    plugin.write_text(
        "from netc.registry import BlockType\n"
        "def register(reg):\n"
        "    class Twice(BlockType):\n"
        "        code = 'twice'\n"
        "        doc = 'x + x'\n"
        "        params = {}\n"
        "        def lower(self, b, a, x):\n"
        "            return b.add(x, x)\n"
        "    reg.block(Twice)\n")
    spec = "input img#norm1 8x8x3\na#:\n    select:img#\n    twice\noutput a#\n"
    s = Session(init_options={"plugins": [str(plugin)]})
    try:
        uri, diags = s.open(tmp_path / "p.net", spec)
        assert diags == []
        assert "**`twice`** block: x + x" in s.hover(uri, 3, 5)
    finally:
        s.stop()
    s = Session()
    try:
        _, diags = s.open(tmp_path / "p.net", spec)
        assert [d.message.split(";")[0] for d in diags] == ["unknown block type `twice`"]
    finally:
        s.stop()


def _requests(s: Session, uri: str, text: str, seed: int) -> None:
    """Every request the server answers, at a few places of ``text``."""
    lines = text.split("\n")
    s.hints(uri)
    for k in range(3):
        line = (seed + 7 * k) % len(lines)
        char = (seed * 13 + k) % (len(lines[line]) + 1)
        s.hover(uri, line, char)
        s.complete(uri, line, char)
        s.definition(uri, line, char)
        s.references(uri, line, char)
        s.run(s.client.text_document_signature_help_async(T.SignatureHelpParams(s.doc(uri), T.Position(line, char))))
    s.run(s.client.text_document_document_symbol_async(T.DocumentSymbolParams(s.doc(uri))))
    s.run(s.client.text_document_formatting_async(T.DocumentFormattingParams(s.doc(uri), T.FormattingOptions(4, True))))


def _assert_cli_fails_internally(name: str, text: str) -> None:
    from netc.diagnostics import NetcError
    from netc.frontends.load import parse_source
    from netc.semantic.analyze import analyze
    try:
        analyze(parse_source(text, name))
    except NetcError:
        raise AssertionError("the server failed internally where the CLI reports the spec's errors") from None
    except Exception:  # noqa: BLE001 - the CLI fails too: no failure of the server's own
        return
    raise AssertionError("the server failed internally on a spec the CLI compiles")


def test_fuzz_corpus_answered_without_crash_or_hang(tmp_path):
    """The fuzz generators' mutants (tests/test_fuzz.py), each sent as a whole-document change: every answer
    comes (the session's timeout bounds each), an analysis ends in an internal error only where the CLI's
    does too, and the server logs no failure of a request."""
    from hypothesis import given, settings
    from test_fuzz import FUZZ, text_mutants, yaml_mutants
    s = Session()
    uris = {form: s.open(tmp_path / f"fuzz.{form}", "")[0] for form in ("net", "yaml")}
    count = [0]

    def one(case):
        name, text = case
        uri = uris["yaml" if name.endswith(".yaml") else "net"]
        diags = s.replace(uri, text)
        if any(d.message.startswith("netc internal error") for d in diags):
            _assert_cli_fails_internally(name, text)   # the analyser's own bug (test_fuzz.py's to find)
        count[0] += 1
        if count[0] % 4 == 0:
            _requests(s, uri, text, count[0])

    try:
        settings(max_examples=80, **FUZZ)(given(text_mutants())(one))()
        settings(max_examples=30, **FUZZ)(given(yaml_mutants())(one))()
        assert s.client._server.returncode is None
    finally:
        err = s.stop()
    assert count[0] == 110 and "Traceback" not in err and "failed" not in err, err[-2000:]


def test_related_information_points_at_use_site_and_first_definition(lsp, tmp_path):
    text = ("template t_c:\n    cn_k3_c{c}_nfoo\ninput img#norm1 8x8x3\na#:\n    select:img#\n    t_c8\n"
            "    x#cn_k1_c4\nb#:\n    select:img#\n    x#cn_k1_c4\noutput a# b#\n")
    uri, diags = lsp.open(tmp_path / "r.net", text)
    by_line = {d.range.start.line + 1: d for d in diags}
    act = by_line[2]   # inside the template body, used at line 6
    assert act.message.startswith("unknown activation `foo`")
    use = [r for r in act.related_information if "in the expansion of template `t`" in r.message]
    assert [(r.location.range.start.line, r.location.range.start.character) for r in use] == [(5, 4)]
    dup = by_line[10]
    assert dup.message.startswith("duplicate name `x#`")
    first = [r for r in dup.related_information if "first defined" in r.message]
    assert [(r.location.range.start.line, r.location.range.start.character) for r in first] == [(6, 4)]
    lsp.close(uri)


def test_server_imports_neither_tensorflow_nor_torch():
    import subprocess
    code = ("import sys\nfrom netc.lsp import server, analysis, hover, complete, navigate, format, hints\n"
            "an = analysis.analyse(open('specs/openpose.net').read(), 'specs/openpose.net')\n"
            "assert an.partial is not None and not an.diagnostics\n"
            "print(sorted(m for m in ('tensorflow', 'torch', 'keras', 'onnxruntime') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_warnings_as_the_cli_prints_them(lsp, tmp_path, capsys):
    text = "input img#norm1 32x32x3\na#:\n    select:img#\n    cn2_k3_c48\n    cn_k3_c8_noscale\noutput a#\n"
    path = tmp_path / "w.net"
    path.write_text(text)
    code, _, err = cli("summary", str(path), capsys=capsys)
    assert code == 0
    want = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in
            re.finditer(rf"^{re.escape(str(path))}:(\d+):(\d+): warning: (.*)$", err, re.M)]
    assert len(want) == 2
    uri, diags = lsp.open(path)
    assert [(*at(d), d.message) for d in diags] == want
    assert all(d.severity == T.DiagnosticSeverity.Warning for d in diags)
    lsp.close(uri)
