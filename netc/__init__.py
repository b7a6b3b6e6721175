"""netc: compile tf_netbuilder-notation network specs into ONNX and Keras artifacts.

>>> import netc
>>> model = netc.compile("specs/mobilenet_v3.net")
>>> model.to_onnx("mobilenet_v3.onnx")            # doctest: +SKIP
>>> keras_model = model.to_keras()                 # doctest: +SKIP
"""
__version__ = "0.1.0"

from netc.diagnostics import NetcError  # noqa: E402


def compile(path_or_text: str, **kwargs):
    """See :func:`netc.compiler.compile`."""
    from netc.compiler import compile as _compile
    return _compile(path_or_text, **kwargs)


__all__ = ["NetcError", "compile", "__version__"]
