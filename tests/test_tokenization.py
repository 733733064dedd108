"""Echo's tokenizer: id 0 is the only special token, text round-trips exactly, save/load through AutoTokenizer."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from echo_hf.training.tokenization_echo import END_OF_TEXT, build_tokenizer, check_tokenizer_matches

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "how much wood would a woodchuck chuck if a woodchuck could chuck wood",
    "peter piper picked a peck of pickled peppers",
    "the rain in spain stays mainly in the plain",
] * 4
HARD_TEXTS = [
    "the quick brown fox",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines",
    "Ünïcödé, émojis 🎙️ and 中文 never seen in training",
    "MiXeD CaSe 12345 !?#",
]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(CORPUS, vocab_size=300)


def test_id_zero_is_the_only_special_token(tokenizer):
    assert tokenizer.convert_ids_to_tokens(0) == END_OF_TEXT
    special_ids = (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    assert special_ids == (0, 0, 0, 0)
    assert tokenizer.all_special_ids == [0]
    assert len(tokenizer) == 300  # 1 special + 256 bytes + 43 merges, reached on this corpus


def test_encode_adds_nothing_and_decode_round_trips(tokenizer):
    for text in HARD_TEXTS:
        ids = tokenizer(text)["input_ids"]
        assert 0 not in ids, "plain text must not gain start/end tokens; the processor appends the 0"
        assert tokenizer.decode(ids) == text
    assert len(tokenizer("the quick brown fox")["input_ids"]) < len("the quick brown fox")  # merges are used


def test_batch_decode_skips_the_zeros(tokenizer):
    rows = [tokenizer(text)["input_ids"] + [0, 0, 0] for text in HARD_TEXTS[:2]]
    assert tokenizer.batch_decode(rows, skip_special_tokens=True) == HARD_TEXTS[:2]
    assert tokenizer.decode(rows[0]).endswith(END_OF_TEXT * 3)


def test_save_and_load_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(loaded) == len(tokenizer) and loaded.pad_token_id == 0 and loaded.eos_token_id == 0
    for text in HARD_TEXTS:
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
        assert loaded.decode(loaded(text)["input_ids"]) == text


def test_small_corpus_gives_fewer_tokens_than_asked():
    small = build_tokenizer(["abc abc"], vocab_size=1000)
    assert 257 <= len(small) < 1000
    with pytest.raises(ValueError, match=rf"{len(small)} tokens.*vocab_size=1000"):
        check_tokenizer_matches(small, vocab_size=1000)


def test_check_tokenizer_matches(tokenizer):
    check_tokenizer_matches(tokenizer, vocab_size=300, pad_token_id=0)
    with pytest.raises(ValueError, match=r"300 tokens.*vocab_size=51865"):
        check_tokenizer_matches(tokenizer, vocab_size=51865)
    with pytest.raises(ValueError, match=r"pad_token_id is 0 but the model config's pad_token_id is 5"):
        check_tokenizer_matches(tokenizer, vocab_size=300, pad_token_id=5)


def test_cli_builds_a_loadable_tokenizer(tmp_path):
    text_file = tmp_path / "train.txt"
    text_file.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    script = Path(__file__).resolve().parents[1] / "scripts" / "build_tokenizer.py"
    result = subprocess.run(
        [sys.executable, str(script), str(text_file), str(tmp_path / "tok"), "--vocab-size", "280"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(script.parents[1])},  # the package need not be pip-installed
        check=True,
    )
    assert "280 tokens" in result.stdout
    assert len(AutoTokenizer.from_pretrained(tmp_path / "tok")) == 280
