"""`netc lsp`: a Language Server Protocol server for netc specs (`.net` and YAML), over stdio.

One module per idea: ``analysis`` (a document read and checked, never raising), ``convert`` (spans and LSP
positions), ``lookup`` (what is under the caret), and one module per feature (``diagnose``, ``hints``,
``hover``, ``complete``, ``navigate``, ``format``); ``server`` wires them to pygls; ``serve`` starts it.
Nothing here imports TensorFlow or PyTorch.
"""


def serve(plugins: tuple[str, ...] = ()) -> None:
    """Run the server on stdin/stdout (`netc lsp`); without the `lsp` extra, a NetcError saying so."""
    try:
        from netc.lsp.server import serve as run
    except ImportError as err:
        from netc.diagnostics import NetcError
        raise NetcError(f"`netc lsp` needs pygls and lsprotocol ({err.name} is missing): "
                        f"pip install 'netc[lsp]'") from None
    run(plugins)
