"""Batching for Echo training and evaluation: audio -> padded model inputs, label ids -> padded labels."""

from dataclasses import dataclass, field
from typing import Any

import torch

from ..audio_loading import decode_audio
from ..processing_echo import EchoProcessor, pad_labels
from .augmentation import INDEX, ClipAugmenter
from .speech_datasets import AUDIO, LABELS


@dataclass
class EchoSpeechCollator:
    """Collates examples `{"audio": ..., "labels": [ids..., 0]}` into one batch for `EchoForConditionalGeneration`.

    The feature extractor pads every clip to the longest in the batch: `input_features`, `waveform` and their masks,
    with padding exactly 0, as the model expects. Labels are padded with -100, which the loss ignores; the 0 that
    ends each transcript is a real target and stays. Audio may be encoded (`{"bytes", "path"}`), decoded
    (`{"array", "sampling_rate"}`) or a 1-D array at the feature extractor's rate; examples without `labels` (for
    inference) give a batch without them.

    Args:
        processor ([`EchoProcessor`]): its feature extractor computes the inputs.
        augment ([`ClipAugmenter`], *optional*): augments the clips of examples that carry an `augmentation_index`
            (the training split's, `augmentation.index_for_augmentation`); evaluation splits have none.
        feature_kwargs (`dict`, defaults to `{"padding": "longest"}`): what the feature extractor is called with
            (a Whisper baseline pads every clip to its fixed length: `baselines.WHISPER_FEATURE_KWARGS`).
    """

    processor: EchoProcessor
    augment: ClipAugmenter | None = None
    feature_kwargs: dict[str, Any] = field(default_factory=lambda: {"padding": "longest"})

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        extractor = self.processor.feature_extractor
        audio = [decode_audio(example[AUDIO], extractor.sampling_rate) for example in examples]
        if self.augment is not None:
            audio = [
                self.augment(clip, example[INDEX]) if INDEX in example else clip
                for clip, example in zip(audio, examples, strict=True)
            ]
        rate = extractor.sampling_rate
        fixed = getattr(extractor, "n_samples", None) if self.feature_kwargs.get("padding") == "max_length" else None
        longest = max(len(clip) for clip in audio)
        if fixed is not None and longest > fixed:
            raise ValueError(
                f"A {longest / rate:.2f} s clip is longer than the model's fixed input of {fixed / rate:g} s, and "
                "would be cut: raise the model's max_source_positions or drop the longer clips from the data."
            )
        batch = dict(extractor(audio, sampling_rate=rate, return_tensors="pt", **self.feature_kwargs))
        if all(LABELS in example for example in examples):
            batch[LABELS] = torch.from_numpy(pad_labels([example[LABELS] for example in examples]))
        return batch


__all__ = ["EchoSpeechCollator"]
