"""Tiny random Whisper and Wav2Vec2 CTC folders, built offline, and a record of what transformers' ASR pipeline makes
of one: every output, error, warning and log line, for comparing a process that imports echo_hf with one that does not.

This module imports transformers only, never echo_hf: the process that runs `pipeline_behaviour` decides that.
"""

import json
import logging
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (
    AutoFeatureExtractor,
    AutoModelForCTC,
    AutoModelForSpeechSeq2Seq,
    AutoTokenizer,
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperTokenizer,
    pipeline,
)

TASK = "automatic-speech-recognition"
RATE = 16000
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def save_whisper(folder: Path) -> Path:
    """A two-layer Whisper with a byte-level BPE of single letters (no merges) and Whisper's special tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(["!", "Ġ", *LETTERS])}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        unk_token=end,
        bos_token=end,
        eos_token=end,
        pad_token=end,
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]}
    )
    end_id, start_id = tokenizer.convert_tokens_to_ids([end, "<|startoftranscript|>"])
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        pad_token_id=end_id,
        bos_token_id=end_id,
        eos_token_id=end_id,
        decoder_start_token_id=start_id,
    )
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    return folder


def save_ctc(folder: Path) -> Path:
    """A one-layer Wav2Vec2 CTC model over letters, with its feature extractor and character tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(LETTERS)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
        pad_token_id=0,
    )
    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return folder


@contextmanager
def captured():
    """Every Python warning and every transformers log record (INFO and up) raised inside, as lines."""
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    handler, verbosity = Collect(), transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_info()
    transformers.logging.get_logger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield lines
        lines.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        transformers.logging.get_logger().removeHandler(handler)
        transformers.logging.set_verbosity(verbosity)


def outcome(call: Callable):
    """What `call()` returns, or the error it raises, in a form JSON keeps."""
    try:
        result = call()
    except Exception as error:  # the errors are behaviour too
        return f"{type(error).__name__}: {error}"
    if isinstance(result, transformers.Pipeline):
        return f"{type(result).__module__}.{type(result).__qualname__}"
    return json.loads(json.dumps(result, default=str))  # tuples become lists, as in the other process


def pipeline_behaviour(folder: str) -> dict:
    """Build the task's pipeline for `folder` three ways and run it on every input kind and option it takes."""
    whisper = "whisper" in json.loads((Path(folder) / "config.json").read_text())["model_type"]
    audio = np.random.default_rng(0).standard_normal((2, RATE // 2)).astype(np.float32) * 0.1
    # Whisper's pipeline defaults to 5 beams of up to 256 tokens: fewer keep the run short.
    options = {"max_new_tokens": 6} if whisper else {}
    timestamps = (True, "word") if whisper else ("char", "word")
    record = {}
    with captured() as lines:
        asr = pipeline(TASK, model=folder, **options)
        record["from folder"] = outcome(lambda: asr)
        record["array"] = outcome(lambda: asr(audio[0]))
        record["dict"] = outcome(lambda: asr({"raw": audio[0], "sampling_rate": RATE}))
        record["dict at 8 kHz"] = outcome(lambda: asr({"raw": audio[0], "sampling_rate": RATE // 2}))
        record["batch"] = outcome(lambda: asr(list(audio), batch_size=2))
        record["chunked"] = outcome(lambda: asr(audio.reshape(-1), chunk_length_s=0.4, stride_length_s=0.1))
        for kind in timestamps:
            record[f"timestamps {kind}"] = outcome(lambda kind=kind: asr(audio[0], return_timestamps=kind))

        model_class = AutoModelForSpeechSeq2Seq if whisper else AutoModelForCTC
        parts = {
            "model": model_class.from_pretrained(folder),
            "tokenizer": AutoTokenizer.from_pretrained(folder),
            "feature_extractor": AutoFeatureExtractor.from_pretrained(folder),
        }
        from_objects = pipeline(TASK, **parts, **options)
        record["from objects"] = outcome(lambda: from_objects)
        record["objects: array"] = outcome(lambda: from_objects(audio[1]))
    record["log"] = lines
    return record
