"""EchoProcessor: the feature extractor and the tokenizer behind one call, with seq2seq labels."""

import numpy as np
from transformers import BatchFeature, ProcessorMixin

LABEL_PAD_ID = -100  # ignored by the loss; 0 cannot pad labels because it is the real end-of-text target


class EchoProcessor(ProcessorMixin):
    """Wraps an [`EchoFeatureExtractor`] and Echo's byte-level BPE tokenizer (loaded with `AutoTokenizer`).

    `processor(audio=..., text=...)` gives the model inputs and `labels`: each transcript's token ids followed by
    the end-of-text id (0), padded with -100 when tensors are requested.

    Args:
        feature_extractor ([`EchoFeatureExtractor`]): turns audio into `input_features`, `waveform` and masks.
        tokenizer ([`PreTrainedTokenizerFast`]): Echo's tokenizer, with `<|endoftext|>` at id 0.
    """

    def __init__(self, feature_extractor, tokenizer):
        super().__init__(feature_extractor, tokenizer)

    def __call__(self, audio=None, text: str | list[str] | None = None, sampling_rate: int | None = None, **kwargs):
        """Features for `audio` (see [`EchoFeatureExtractor.__call__`]) and/or `labels` for `text`.

        With `return_tensors` set, labels are one (batch, longest + 1) tensor padded with -100; otherwise a
        list of id lists (a single string gives a single list).
        """
        if audio is None and text is None:
            raise ValueError("EchoProcessor needs `audio`, `text` or both; got neither.")
        return_tensors = kwargs.get("return_tensors")
        outputs = BatchFeature()
        if audio is not None:
            outputs = self.feature_extractor(audio, sampling_rate=sampling_rate, **kwargs)
        if text is not None:
            labels = self._labels([text] if isinstance(text, str) else list(text))
            if return_tensors is not None:
                labels = pad_labels(labels)
            elif isinstance(text, str):
                labels = labels[0]
            outputs = BatchFeature({**outputs, "labels": labels}, tensor_type=return_tensors)
        return outputs

    def _labels(self, texts: list[str]) -> list[list[int]]:
        # add_special_tokens=False: the decoder start (also 0) is prepended by the model, not the labels.
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [row + [self.tokenizer.eos_token_id] for row in ids]

    @property
    def model_input_names(self) -> list[str]:
        return self.feature_extractor.model_input_names


def pad_labels(labels: list[list[int]]) -> np.ndarray:
    """(batch, longest) int64 labels padded with -100 at the end of each row."""
    padded = np.full((len(labels), max(len(row) for row in labels)), LABEL_PAD_ID, dtype=np.int64)
    for index, row in enumerate(labels):
        padded[index, : len(row)] = row
    return padded


__all__ = ["EchoProcessor", "pad_labels"]
