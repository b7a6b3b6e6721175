"""`netc lsp`: a Language Server Protocol server for netc specs (`.net` and YAML), over stdio.

One module per idea: ``analysis`` (a document read and checked, never raising), ``convert`` (spans and LSP
positions), ``lookup`` (what is under the caret), and one module per feature (``diagnose``, ``hints``,
``hover``, ``complete``, ``navigate``, ``format``); ``server`` wires them to pygls. Nothing here imports
TensorFlow or PyTorch.
"""
