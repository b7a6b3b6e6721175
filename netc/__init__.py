"""netc: compile tf_netbuilder-notation network specs into ONNX and Keras artifacts."""
__version__ = "0.1.0"
