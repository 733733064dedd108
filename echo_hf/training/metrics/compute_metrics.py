"""Load the shipped WER/CER metric offline and turn it into a `compute_metrics` for `Seq2SeqTrainer`."""

from collections.abc import Callable
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction, PreTrainedTokenizerBase

from ...processing_echo import LABEL_PAD_ID

# A local folder, so `evaluate.load` reads the script from disk and never asks the Hub.
ECHO_WER_PATH = str(Path(__file__).parent / "echo_wer")


def load_echo_wer(**kwargs) -> evaluate.EvaluationModule:
    """The `echo_wer` metric (WER and CER after `normalize_text`), loaded from the package folder."""
    return evaluate.load(ECHO_WER_PATH, **kwargs)


def decode_ids(tokenizer: PreTrainedTokenizerBase, ids: np.ndarray) -> list[str]:
    """Decode rows of token ids where -100 (label padding) may appear; special tokens (id 0) are dropped."""
    ids = np.where(np.asarray(ids) == LABEL_PAD_ID, tokenizer.pad_token_id, ids)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def build_compute_metrics(tokenizer: PreTrainedTokenizerBase) -> Callable[[EvalPrediction], dict[str, float]]:
    """A `compute_metrics` for `Seq2SeqTrainer(predict_with_generate=True)` returning `wer` and `cer`."""
    metric = load_echo_wer(keep_in_memory=True)  # no cache files shared between processes

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        predictions = prediction.predictions
        if isinstance(predictions, tuple):  # some models return (generated ids, extra outputs)
            predictions = predictions[0]
        hypotheses = decode_ids(tokenizer, predictions)
        references = decode_ids(tokenizer, prediction.label_ids)
        return metric.compute(predictions=hypotheses, references=references)

    return compute_metrics
