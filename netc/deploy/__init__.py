"""Deployment: execution providers, reduced-precision artifacts (fp16, int8) and serving layouts.

Everything here works on the ONNX ModelProto and the compiled model's graph inputs/outputs, never on
backend internals. Heavy libraries (onnxruntime's tools, TensorFlow, Pillow) are imported where used.
"""
