"""Echo on ONNX Runtime: `export_echo` writes an encoder and a decoder-step graph (fp32 and int8), and
`EchoOnnxForConditionalGeneration` runs them behind the same ASR pipeline. Needs the ``onnx`` extra."""

from .export_echo import export_echo, export_model
from .modeling_ort_echo import EchoOnnxForConditionalGeneration

__all__ = ["EchoOnnxForConditionalGeneration", "export_echo", "export_model"]
