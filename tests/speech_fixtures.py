"""Helpers for the training tests: a tiny on-disk speech DatasetDict, training configs around it, and a stand-in for
the audio decoder that datasets 4+ gives for a decoded audio cell."""

import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from conftest import tiny_config

SPEECH = Path(__file__).parent / "assets" / "speech"


@dataclass
class StandInAudioSamples:
    """What torchcodec's `AudioDecoder.get_all_samples()` returns: `data` is (channels, samples), float in [-1, 1]."""

    data: torch.Tensor
    sample_rate: int


class StandInAudioDecoder:
    """Duck-types torchcodec's `AudioDecoder` (datasets 4+'s `Audio(decode=True)` cell) as far as echo_hf uses it,
    so that the tests need no torchcodec (which loads only beside a CUDA build of torch)."""

    def __init__(self, data: torch.Tensor, sample_rate: int):
        self._samples = StandInAudioSamples(data, sample_rate)

    def get_all_samples(self) -> StandInAudioSamples:
        return self._samples


def save_speech_dataset(root: Path, audio_column: str = "audio", text_column: str = "text") -> Path:
    """The four real espeak-ng clips as train, validation, test and held_out_voices (`save_to_disk`, FLAC/WAV
    bytes): the corpus's split names."""
    transcripts = json.loads((SPEECH / "transcripts.json").read_text())
    rows = {
        audio_column: [{"bytes": (SPEECH / name).read_bytes(), "path": name} for name in transcripts],
        text_column: list(transcripts.values()),
    }
    split = datasets.Dataset.from_dict(rows).cast_column(audio_column, datasets.Audio(sampling_rate=16000))
    splits = {"train": split, "validation": split, "test": split, "held_out_voices": split}
    datasets.DatasetDict(splits).save_to_disk(str(root))
    return root


def write_model_config(path: Path, **overrides) -> Path:
    """A tiny model preset JSON (vocab_size is replaced by len(tokenizer) when the tokenizer is built)."""
    values = tiny_config(**{"max_target_positions": 32, **overrides}).to_diff_dict()
    values.pop("transformers_version", None)
    path.write_text(json.dumps(values))
    return path


def write_train_config(path: Path, model: Path, data: Path, output_dir: Path, **overrides) -> Path:
    """A training config of a few CPU steps; `training_args` entries in `overrides` update the defaults."""
    training_args = {
        "output_dir": str(output_dir),
        "max_steps": 4,
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 4,
        "learning_rate": 3e-3,
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_steps": 2,
        "seed": 0,
        "disable_tqdm": True,
        **overrides.pop("training_args", {}),
    }
    config = {
        "model": str(model),
        "tokenizer": "build",
        "tokenizer_vocab_size": 300,
        "data": str(data),
        "training_args": training_args,
        **overrides,
    }
    path.write_text(json.dumps(config))
    return path
