"""Batching for Echo training and evaluation: audio -> padded model inputs, label ids -> padded labels."""

from dataclasses import dataclass
from typing import Any

import torch

from ..audio_loading import decode_audio
from ..processing_echo import EchoProcessor, pad_labels
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
    """

    processor: EchoProcessor

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        extractor = self.processor.feature_extractor
        audio = [decode_audio(example[AUDIO], extractor.sampling_rate) for example in examples]
        batch = dict(extractor(audio, sampling_rate=extractor.sampling_rate, padding="longest", return_tensors="pt"))
        if all(LABELS in example for example in examples):
            batch[LABELS] = torch.from_numpy(pad_labels([example[LABELS] for example in examples]))
        return batch


__all__ = ["EchoSpeechCollator"]
