"""Whisper as a baseline for Echo: `WhisperForConditionalGeneration` built from a model JSON with
`"model_type": "whisper"`, trained by `echo-train` with the same tokenizer, data, collator and Trainer as Echo.

Whisper's encoder takes one fixed input length: `2 * max_source_positions` mel frames (10 ms each), so every clip is
padded to it, and a longer clip is an error rather than cut. Token id 0 is its only special token, as in Echo.
"""

from __future__ import annotations

from typing import Any

from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

HOP_LENGTH = 160
SAMPLING_RATE = 16000


def is_whisper(values: dict[str, Any]) -> bool:
    return values.get("model_type") == "whisper"


def whisper_feature_extractor(values: dict[str, Any]) -> WhisperFeatureExtractor:
    """Log-mels of `num_mel_bins` bins, padded to the encoder's fixed `2 * max_source_positions` frames."""
    frames = 2 * values["max_source_positions"]
    if frames * HOP_LENGTH % SAMPLING_RATE:
        raise ValueError(
            f"max_source_positions={values['max_source_positions']} must be a multiple of 50 (whole seconds of audio)."
        )
    return WhisperFeatureExtractor(
        feature_size=values.get("num_mel_bins", 80), chunk_length=frames * HOP_LENGTH // SAMPLING_RATE
    )


def build_whisper(values: dict[str, Any], vocab_size: int) -> WhisperForConditionalGeneration:
    """A new Whisper of the JSON's dimensions with `vocab_size` tokens and id 0 as start, end and padding."""
    special = {"pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0, "decoder_start_token_id": 0}
    settings = {key: value for key, value in values.items() if key != "model_type"}
    config = WhisperConfig(
        **{**settings, "vocab_size": vocab_size, **special},
        suppress_tokens=[],
        begin_suppress_tokens=None,
        forced_decoder_ids=None,
    )
    model = WhisperForConditionalGeneration(config)
    # Plain decoding: no language, task or timestamp tokens (this tokenizer has none).
    model.generation_config = GenerationConfig(**special, max_length=config.max_target_positions)
    return model


# What the collator passes the feature extractor: every clip padded to the fixed length, none truncated, and the
# mask of its real frames, so that Whisper's SpecAugment (when on) masks spans of the clip, not of its padding.
WHISPER_FEATURE_KWARGS = {"padding": "max_length", "truncation": False, "return_attention_mask": True}

__all__ = ["WHISPER_FEATURE_KWARGS", "build_whisper", "is_whisper", "whisper_feature_extractor"]
