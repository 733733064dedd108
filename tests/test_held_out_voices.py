"""The fine-tuning data of scripts/finetune_lora.py: voices and sentences the bundled corpus never uses."""

import shutil
import subprocess

import pytest

from echo_hf.corpus.build import SPLITS
from echo_hf.corpus.held_out import HELD_OUT_VARIANTS, default_corpus_params, held_out_sentences
from echo_hf.corpus.speech import ESPEAK_VARIANTS
from echo_hf.corpus.text import collect_sentences, make_splits


def test_held_out_variants_are_espeak_variants_the_corpus_does_not_use():
    assert not set(HELD_OUT_VARIANTS) & set(ESPEAK_VARIANTS)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    installed = {line.split()[4].removeprefix("!v/") for line in listing.splitlines()[1:]}
    assert set(HELD_OUT_VARIANTS) <= installed


def test_held_out_sentences_are_in_no_corpus_split():
    params = {**default_corpus_params(), "train": 300, "validation": 20, "test": 20, "held_out_voices": 20}
    held_out = held_out_sentences({"finetune_train": 30, "finetune_eval": 10}, params)
    sentences, _ = collect_sentences(params["min_words"], params["max_words"], params["max_vocab"])
    corpus = make_splits(sentences, {split: params[split] for split in SPLITS}, params["seed"])
    corpus_texts = {s.text for split in corpus.values() for s in split}
    train, evaluation = ({s.text for s in held_out[name]} for name in ("finetune_train", "finetune_eval"))
    assert len(train) == 30 and len(evaluation) == 10
    assert not (train | evaluation) & corpus_texts and not train & evaluation
    with pytest.raises(ValueError, match="clash"):
        held_out_sentences({"test": 1}, params)
