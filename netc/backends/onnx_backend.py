"""The former path of the ONNX backend, kept for imports written against it: see :mod:`netc.backends.onnx`."""
from netc.backends.onnx import *  # noqa: F401,F403
from netc.backends.onnx import __all__  # noqa: F401
