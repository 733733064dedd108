"""The shipped echo_wer metric: hand-computed WER/CER, normalisation, offline loading, the Trainer hook."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from transformers import EvalPrediction

from echo_hf import build_tokenizer
from echo_hf.training.metrics import ECHO_WER_PATH, build_compute_metrics, load_echo_wer


@pytest.fixture(scope="module")
def metric():
    return load_echo_wer(keep_in_memory=True)


def test_wer_and_cer_match_hand_counts(metric):
    # "the cat sat" -> "the cat sit": 1 of 3 words, 1 of 11 characters wrong.
    # "good morning" -> "good morning to you": 2 insertions over 2 words; 7 inserted characters (" to you") over 12.
    result = metric.compute(
        predictions=["the cat sit", "good morning to you"], references=["the cat sat", "good morning"]
    )
    assert result["wer"] == pytest.approx((1 + 2) / (3 + 2))
    assert result["cer"] == pytest.approx((1 + 7) / (11 + 12))


def test_both_sides_are_normalised_before_scoring(metric):
    result = metric.compute(predictions=["hello world"], references=["Hello, World!"])
    assert result == {"wer": 0.0, "cer": 0.0}
    numbers = metric.compute(predictions=["three cats"], references=["3 cats"])
    assert numbers["wer"] == 0.0
    raw = metric.compute(predictions=["hello world"], references=["Hello, World!"], normalize=False)
    assert raw["wer"] == 1.0


def test_empty_hypothesis_counts_every_word_as_deleted(metric):
    assert metric.compute(predictions=[""], references=["one two three"]) == {"wer": 1.0, "cer": 1.0}


def test_loads_from_the_package_folder_offline():
    code = (
        "import evaluate; from echo_hf.training.metrics import ECHO_WER_PATH;"
        "m = evaluate.load(ECHO_WER_PATH, keep_in_memory=True);"
        "import json; print(json.dumps(m.compute(predictions=['a b'], references=['a c'])))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(output.stdout.strip().splitlines()[-1]) == {"wer": 0.5, "cer": pytest.approx(1 / 3)}
    assert os.path.isfile(os.path.join(ECHO_WER_PATH, "echo_wer.py"))


def test_compute_metrics_decodes_generated_ids_and_minus_100_labels():
    tokenizer = build_tokenizer(["hello world", "good morning"], vocab_size=270, min_frequency=1)
    ids = [tokenizer.encode(text) for text in ("hello world", "good morning")]
    width = max(map(len, ids)) + 3
    # generate() output: start id 0, tokens, end id 0, then 0 padding; labels: tokens, end 0, then -100
    predictions = np.zeros((2, width), dtype=np.int64)
    labels = np.full((2, width), -100, dtype=np.int64)
    for row, tokens in enumerate(ids):
        predictions[row, 1 : 1 + len(tokens)] = tokens
        labels[row, : len(tokens) + 1] = tokens + [0]
    predictions[1, 1 : 1 + len(ids[0])] = ids[0]  # second hypothesis: "hello world" instead of "good morning"
    predictions[1, 1 + len(ids[0]) :] = 0
    result = build_compute_metrics(tokenizer)(EvalPrediction(predictions=predictions, label_ids=labels))
    assert result["wer"] == pytest.approx(2 / 4)
