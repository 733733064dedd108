"""Echo for Hugging Face Transformers: a two-view (log-mel + waveform) encoder-decoder speech recogniser.

Importing this package registers the model type ``"echo"`` with the Auto classes.

Layout: the files at this level are the model's (`MODEL_FILES`: `save_pretrained` copies them beside the weights for
`trust_remote_code`, flat, importing only each other), plus `hub.py` (model card, sharing) and `transcribe.py` (the
`echo-transcribe` command). `training/` trains a model, `corpus/` makes the bundled data, `onnx/` exports a model to
ONNX and runs it with ONNX Runtime.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForSpeechSeq2Seq,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

from .configuration_echo import EchoConfig
from .feature_extraction_echo import EchoFeatureExtractor
from .modeling_echo import (
    EchoDecoder,
    EchoEncoder,
    EchoForConditionalGeneration,
    EchoModel,
    EchoPreTrainedModel,
)
from .pipeline_echo import EchoSpeechRecognitionPipeline, register_pipeline
from .processing_echo import EchoProcessor
from .training.tokenization_echo import build_tokenizer, check_tokenizer_matches

# What travels with a saved model: transformers copies these (what the model, config, feature extractor, processor and
# pipeline files import, transitively) into every folder `save_pretrained` writes.
MODEL_FILES = (
    "configuration_echo.py",
    "modeling_echo.py",
    "attention_echo.py",
    "frontends_echo.py",
    "feature_extraction_echo.py",
    "spectrogram_echo.py",
    "processing_echo.py",
    "pipeline_echo.py",
    "audio_loading.py",
    "chunk_merge.py",
    "alignment_echo.py",
    "ctc_decoding_echo.py",
    "segmentation_echo.py",
    "voice_activity_echo.py",
)

AutoConfig.register(EchoConfig.model_type, EchoConfig, exist_ok=True)
AutoModel.register(EchoConfig, EchoModel, exist_ok=True)
AutoModelForSpeechSeq2Seq.register(EchoConfig, EchoForConditionalGeneration, exist_ok=True)
AutoFeatureExtractor.register(EchoConfig, EchoFeatureExtractor, exist_ok=True)
AutoProcessor.register(EchoConfig, EchoProcessor, exist_ok=True)
# A saved tokenizer names its own class; this covers folders whose tokenizer_config.json does not.
AutoTokenizer.register(EchoConfig, PreTrainedTokenizerFast, exist_ok=True)
# save_pretrained then writes `auto_map` and copies the code, so a folder loads with trust_remote_code=True alone
# (EchoConfig also names the pipeline in config.json and brings pipeline_echo.py along).
EchoConfig.register_for_auto_class()
EchoModel.register_for_auto_class("AutoModel")
EchoForConditionalGeneration.register_for_auto_class("AutoModelForSpeechSeq2Seq")
EchoFeatureExtractor.register_for_auto_class()
EchoProcessor.register_for_auto_class("AutoProcessor")
register_pipeline()
# The task's pipeline is Echo's in this process: configs here name no custom pipeline, which would make
# `pipeline(task, model=folder)` demand trust_remote_code=True. config.json still names it (`EchoConfig.to_dict`).
EchoConfig.names_custom_pipeline = False

__all__ = [
    "MODEL_FILES",
    "EchoConfig",
    "EchoDecoder",
    "EchoEncoder",
    "EchoFeatureExtractor",
    "EchoForConditionalGeneration",
    "EchoModel",
    "EchoPreTrainedModel",
    "EchoProcessor",
    "EchoSpeechRecognitionPipeline",
    "build_tokenizer",
    "check_tokenizer_matches",
]
