"""Word and character error rates of speech transcripts, after Echo's spoken-form text normalisation.

Load it from its folder, offline: ``evaluate.load(echo_hf.training.metrics.ECHO_WER_PATH)``.
"""

import datasets
import evaluate
import jiwer

from echo_hf.training.text_normalization import normalize_text

_DESCRIPTION = """\
Corpus-level word error rate (WER) and character error rate (CER) computed with jiwer. Both the predictions and the
references are first passed through `echo_hf.training.text_normalization.normalize_text` (lower case, numbers
spelled out, punctuation removed), so "Hello, World!" and "hello world" count as identical.
WER = (substitutions + deletions + insertions) / reference words, summed over the whole corpus; CER is the same
over characters (spaces included). Lower is better; either can exceed 1 when the hypotheses insert a lot.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list[str]`): transcripts produced by the model.
    references (`list[str]`): the true transcripts, one per prediction.
    normalize (`bool`, defaults to `True`): normalise both sides with `normalize_text` before scoring.
Returns:
    `dict` with `wer` and `cer` (floats).
Example:
    >>> metric = evaluate.load(ECHO_WER_PATH)
    >>> metric.compute(predictions=["the cat sit"], references=["The cat sat."])
    {'wer': 0.3333333333333333, 'cer': 0.09090909090909091}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class EchoWer(evaluate.Metric):
    """WER and CER after `normalize_text`, as an offline `evaluate` module."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions: list[str], references: list[str], normalize: bool = True) -> dict[str, float]:
        if normalize:
            predictions = [normalize_text(text) for text in predictions]
            references = [normalize_text(text) for text in references]
        if not references:
            raise ValueError("EchoWer needs at least one prediction/reference pair; got none.")
        if not any(references):
            # jiwer divides by the reference length: an all-empty reference set has no defined error rate.
            raise ValueError("Every reference is empty after normalisation: WER and CER are undefined.")
        return {"wer": jiwer.wer(references, predictions), "cer": jiwer.cer(references, predictions)}
