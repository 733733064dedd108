"""Echo for Hugging Face Transformers: a two-view (log-mel + waveform) encoder-decoder speech recogniser.

Importing this package registers the model type ``"echo"`` with the Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSpeechSeq2Seq

from .configuration_echo import EchoConfig
from .modeling_echo import (
    EchoDecoder,
    EchoEncoder,
    EchoForConditionalGeneration,
    EchoModel,
    EchoPreTrainedModel,
)

AutoConfig.register(EchoConfig.model_type, EchoConfig, exist_ok=True)
AutoModel.register(EchoConfig, EchoModel, exist_ok=True)
AutoModelForSpeechSeq2Seq.register(EchoConfig, EchoForConditionalGeneration, exist_ok=True)
# save_pretrained then writes `auto_map` and copies the code, so a folder loads with trust_remote_code=True alone.
EchoConfig.register_for_auto_class()
EchoModel.register_for_auto_class("AutoModel")
EchoForConditionalGeneration.register_for_auto_class("AutoModelForSpeechSeq2Seq")

__all__ = [
    "EchoConfig",
    "EchoDecoder",
    "EchoEncoder",
    "EchoForConditionalGeneration",
    "EchoModel",
    "EchoPreTrainedModel",
]
