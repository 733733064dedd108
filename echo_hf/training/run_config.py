"""The one JSON file that describes an Echo training run (see `configs/train_tiny.json`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augmentation import EchoAugmentationConfig
from .lora import EchoLoraConfig

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass
class EchoTrainingConfig:
    """Everything an `echo-train` run needs; `training_args` goes to `Seq2SeqTrainingArguments` unchanged.

    Args:
        model (`str`): a model config JSON (e.g. `configs/tiny.json`, trained from scratch) or a saved model folder
            (fine-tuned; its processor is used unless `tokenizer` says otherwise).
        training_args (`dict`): keyword arguments of `Seq2SeqTrainingArguments` (`output_dir` is required).
        data (`str`): a `save_to_disk` folder, an audiofolder, or a Hub dataset id.
        data_config (`str`, *optional*): configuration name of a Hub dataset.
        audio_column, text_column (`str`, defaults to `"audio"`, `"text"`): columns holding the audio and transcript.
        train_split, eval_split (`str`): split names; `eval_split` may be null to skip validation.
        test_split (`str` or `list[str]`, defaults to `"test"`): the split(s) evaluated after training, or null.
            The first one's metrics are `test_wer`, `test_cer`...; another split's carry its name:
            `["test", "held_out_voices"]` also gives `test_held_out_voices_wer` (the bundled corpus's
            voice-held-out split).
        max_train_samples, max_eval_samples, max_test_samples (`int`, *optional*): keep only the first N examples.
        tokenizer (`str`, defaults to `"model"`): `"model"` (the processor saved with a model folder), `"build"`
            (a byte-level BPE trained on the training texts, `tokenizer_vocab_size` tokens at most; the model's
            vocab_size becomes `len(tokenizer)`), or a tokenizer folder.
        tokenizer_vocab_size (`int`, defaults to 512): vocabulary size for `tokenizer: "build"`; 257 (the
            end-of-text token + 256 bytes) gives a character-level tokenizer.
        normalize_text (`bool`, defaults to `True`): train on `normalize_text(transcript)`.
        filter_long (`bool`, defaults to `False`): drop transcripts longer than `max_target_positions` instead of
            raising an error.
        precision (`str`, defaults to `"auto"`): `"auto"` (bf16 on CUDA when supported, else fp16; fp32 on CPU),
            `"bf16"`, `"fp16"` or `"fp32"`. Sets the Trainer's own `bf16`/`fp16` flags.
        max_train_minutes (`float`, *optional*): stop training (with a checkpoint) after this many minutes.
        resume_from_checkpoint (`str` or `bool`, *optional*): a checkpoint folder, or `true` for the latest in
            `output_dir`.
        dataset_name (`str`, *optional*): the dataset's name in the model card (defaults to `data`).
        lora (`dict`, *optional*): fine-tune a saved model folder with `peft` LoRA adapters instead of all its weights:
            `{"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["attention", "feed_forward"], "merge": false}`
            (see `echo_hf.training.lora.EchoLoraConfig`). The output folder then holds the adapter.
        augmentation (`dict`, *optional*): waveform augmentations of the training clips, e.g.
            `{"seed": 0, "speed": {"p": 0.5}, "noise": {"p": 0.3, "snr_db": [5, 30]}}`
            (see `echo_hf.training.augmentation`). Evaluation and test splits are never augmented.
    """

    model: str
    training_args: dict[str, Any]
    data: str
    data_config: str | None = None
    audio_column: str = "audio"
    text_column: str = "text"
    train_split: str = "train"
    eval_split: str | None = "validation"
    test_split: str | list[str] | None = "test"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_test_samples: int | None = None
    tokenizer: str = "model"
    tokenizer_vocab_size: int = 512
    normalize_text: bool = True
    filter_long: bool = False
    precision: str = "auto"
    max_train_minutes: float | None = None
    resume_from_checkpoint: str | bool | None = None
    dataset_name: str | None = None
    lora: EchoLoraConfig | None = None
    augmentation: EchoAugmentationConfig | None = None
    config_path: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.lora is not None and not isinstance(self.lora, EchoLoraConfig):
            self.lora = EchoLoraConfig.from_dict(self.lora)  # bad LoRA settings fail here, before any data loads
        if self.augmentation is not None and not isinstance(self.augmentation, EchoAugmentationConfig):
            self.augmentation = EchoAugmentationConfig.from_dict(self.augmentation)
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}, got {self.precision!r}.")
        names = self.test_split_names()
        if len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"`test_split` must be a split name or a list of distinct ones, got {self.test_split!r}.")
        if "output_dir" not in self.training_args:
            raise ValueError("`training_args` must set `output_dir`, the folder where the trained model is saved.")
        for flag in ("bf16", "fp16"):
            if flag in self.training_args:
                raise ValueError(
                    f"Set `precision` (auto, bf16, fp16, fp32) instead of `training_args.{flag}`: "
                    "precision picks the Trainer's flags for the device it runs on."
                )

    @classmethod
    def from_json(cls, path: str | Path) -> EchoTrainingConfig:
        """Read a config file; unknown keys raise a `ValueError` naming them and listing the known ones.

        Relative paths (`model`, `data`, `tokenizer`, `output_dir`) stay relative to the working directory,
        as on the command line.
        """
        values = json.loads(Path(path).read_text())
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(values).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)} - {"config_path"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in {path}. Known keys: {sorted(known)}.")
        missing = sorted(name for name in ("model", "training_args", "data") if name not in values)
        if missing:
            raise ValueError(f"{path} is missing the required key(s) {missing}.")
        return cls(**values, config_path=str(path))

    def test_split_names(self) -> list:
        """`test_split` as a list: one name, several, or none."""
        return [self.test_split] if isinstance(self.test_split, str) else list(self.test_split or [])

    def test_splits(self) -> dict[str, str]:
        """Metric prefix -> split name of each test split: `test` for the first, `test_<name>` for the others."""
        return {("test" if index == 0 else f"test_{name}"): name for index, name in enumerate(self.test_split_names())}

    def to_dict(self) -> dict[str, Any]:
        """The config as it would be written to JSON (for the model card and the output folder)."""
        values = dataclasses.asdict(self)
        values.pop("config_path")
        if self.augmentation is not None:  # in the form `from_dict` reads back
            values["augmentation"] = self.augmentation.to_dict()
        return values


__all__ = ["EchoTrainingConfig"]
