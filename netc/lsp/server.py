"""The pygls server: documents analysed on open and on every change, features answered from the analysis.
A feature that fails answers nothing (and logs), so no text can bring the server down."""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from netc.lsp import complete, diagnose, format as fmt, hints, hover, lookup, navigate
from netc.lsp.analysis import Analysis, analyse
from netc.lsp.convert import to_char

log = logging.getLogger("netc.lsp")


class NetcServer(LanguageServer):
    def __init__(self, plugins: tuple[str, ...] = ()):
        super().__init__("netc", _version())
        self.cli_plugins = tuple(os.path.abspath(p) for p in plugins)
        self.config_plugins: tuple[str, ...] = ()
        self.root: str | None = None
        self.cache: dict[str, tuple[str, Analysis, lookup.Index]] = {}
        self.memos: dict[str, dict] = {}   # per document: what analyses keep for the next one

    @property
    def plugins(self) -> tuple[str, ...]:
        return self.cli_plugins + self.config_plugins

    def set_config(self, settings) -> None:
        """``{"plugins": [...]}`` or ``{"netc": {"plugins": [...]}}`` (paths relative to the folder)."""
        if isinstance(settings, dict) and isinstance(settings.get("netc"), dict):
            settings = settings["netc"]
        files = settings.get("plugins") if isinstance(settings, dict) else None
        if isinstance(files, list):
            base = self.root or os.getcwd()
            self.config_plugins = tuple(os.path.normpath(os.path.join(base, str(f))) for f in files)
            self.cache.clear()
            self.memos.clear()

    def state(self, uri: str) -> tuple[Analysis, lookup.Index]:
        """The analysis of the document's current text (made now if the text changed since the last one)."""
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        hit = self.cache.get(uri)
        if hit is None or hit[0] != text:
            an = analyse(text, to_fs_path(uri) or uri, self.plugins, self.memos.setdefault(uri, {}))
            ix = lookup.index(an.spec) if an.spec is not None else lookup.Index()
            hit = self.cache[uri] = (text, an, ix)
        return hit[1], hit[2]

    def publish(self, uri: str, version: int | None = None) -> None:
        an, _ = self.state(uri)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnose.diagnostics(an, uri), version=version))
        self.tidy()

    _idle: asyncio.TimerHandle | None = None

    def tidy(self) -> None:
        """The collector runs by hand (see ``serve``): the young generations after each analysis (a few ms),
        the whole heap once the editor has been quiet for a second, never in the middle of a keystroke."""
        if gc.isenabled():
            return
        gc.collect(1)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._idle is not None:
            self._idle.cancel()
        self._idle = loop.call_later(1.0, gc.collect)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("netc")
    except Exception:  # noqa: BLE001
        return "0"


def _safe(default=None):
    """A feature that logs and answers ``default`` instead of raising."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(ls, params):
            try:
                return fn(ls, params)
            except Exception:  # noqa: BLE001 - netc's bug; the editor gets no answer, not a dead server
                log.exception("netc lsp: %s failed", fn.__name__)
                return default
        return wrapper
    return deco


def build(plugins: tuple[str, ...] = ()) -> NetcServer:
    server = NetcServer(plugins)

    @server.feature(types.INITIALIZE)
    @_safe()
    def initialize(ls: NetcServer, params: types.InitializeParams):
        _on_initialize(ls, params)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @_safe()
    def did_open(ls: NetcServer, params: types.DidOpenTextDocumentParams):
        ls.publish(params.text_document.uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: NetcServer, params: types.DidChangeTextDocumentParams):
        await asyncio.sleep(0)   # changes already queued apply first: only the newest text is analysed
        try:
            uri = params.text_document.uri
            if ls.workspace.get_text_document(uri).version == params.text_document.version:
                ls.publish(uri, params.text_document.version)
        except Exception:  # noqa: BLE001
            log.exception("netc lsp: did_change failed")

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @_safe()
    def did_save(ls: NetcServer, params: types.DidSaveTextDocumentParams):
        ls.cache.pop(params.text_document.uri, None)   # plugins may have changed
        ls.memos.pop(params.text_document.uri, None)
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @_safe()
    def did_close(ls: NetcServer, params: types.DidCloseTextDocumentParams):
        ls.cache.pop(params.text_document.uri, None)
        ls.memos.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @_safe()
    def did_change_configuration(ls: NetcServer, params: types.DidChangeConfigurationParams):
        ls.set_config(params.settings)
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @_safe([])
    def inlay_hint(ls: NetcServer, params: types.InlayHintParams):
        an, _ = ls.state(params.text_document.uri)
        return hints.inlay_hints(an, params.range.start.line, params.range.end.line)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @_safe()
    def on_hover(ls: NetcServer, params: types.HoverParams):
        an, ix = ls.state(params.text_document.uri)
        line, col = to_char(an.lines, params.position)
        text = hover.hover(an, ix, lookup.at(ix, line, col))
        if text is None:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["_", ":", "#"]))
    @_safe()
    def on_complete(ls: NetcServer, params: types.CompletionParams):
        an, ix = ls.state(params.text_document.uri)
        line, col = to_char(an.lines, params.position)
        return types.CompletionList(is_incomplete=False, items=complete.complete(an, ix, line, col))

    @server.feature(types.TEXT_DOCUMENT_SIGNATURE_HELP, types.SignatureHelpOptions(trigger_characters=["_"]))
    @_safe()
    def on_signature(ls: NetcServer, params: types.SignatureHelpParams):
        an, ix = ls.state(params.text_document.uri)
        line, col = to_char(an.lines, params.position)
        return complete.signature(an, ix, line, col)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @_safe([])
    def on_definition(ls: NetcServer, params: types.DefinitionParams):
        an, ix = ls.state(params.text_document.uri)
        line, col = to_char(an.lines, params.position)
        return navigate.definition(an, ix, lookup.at(ix, line, col), params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @_safe([])
    def on_references(ls: NetcServer, params: types.ReferenceParams):
        an, ix = ls.state(params.text_document.uri)
        line, col = to_char(an.lines, params.position)
        return navigate.references(an, ix, lookup.at(ix, line, col), params.text_document.uri,
                                   params.context.include_declaration)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_safe([])
    def on_symbols(ls: NetcServer, params: types.DocumentSymbolParams):
        an, ix = ls.state(params.text_document.uri)
        return navigate.symbols(an, ix)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @_safe([])
    def on_format(ls: NetcServer, params: types.DocumentFormattingParams):
        an, _ = ls.state(params.text_document.uri)
        return fmt.edits(an)

    return server


def _on_initialize(server: NetcServer, params: types.InitializeParams) -> None:
    from netc.lsp.convert import set_encoding
    set_encoding(server.workspace.position_encoding)
    folders = params.workspace_folders or []
    if folders:
        server.root = to_fs_path(folders[0].uri)
    elif params.root_uri:
        server.root = to_fs_path(params.root_uri)
    if params.initialization_options:
        server.set_config(params.initialization_options)


def serve(plugins: tuple[str, ...] = ()) -> None:
    """Run the server on stdin/stdout until the client says exit."""
    server = build(plugins)
    analyse("input img#norm1 8x8x3\na#:\n    select:img#\n    cn_k3_c8\noutput a#\n", "warm-up.net")
    gc.freeze()    # what start-up made stays: the collector no longer re-scans it
    gc.disable()   # a full collection of the server's heap takes 100+ ms: NetcServer.tidy runs it when idle
    server.start_io()
