"""Build a tiny synthetic corpus end to end and check its splits, audio, transcripts, reuse and audiofolder."""

import io
import json
import shutil

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
sf = pytest.importorskip("soundfile")

from echo_hf.audio_loading import decode_audio  # noqa: E402
from echo_hf.corpus.build import HELD_OUT_SPLIT, PARAMS_FILE, SPLITS, build_corpus, check_held_out  # noqa: E402
from echo_hf.corpus.speech import (  # noqa: E402
    ESPEAK_VARIANTS,
    FLITE_VOICES,
    HELD_OUT_ESPEAK_VARIANTS,
    HELD_OUT_FLITE_VOICES,
    available_voices,
)
from echo_hf.training.speech_datasets import load_audiofolder  # noqa: E402
from echo_hf.training.text_normalization import normalize_text  # noqa: E402

SIZES = {"train": 6, "validation": 2, "test": 2, "held_out_voices": 4}

if not (shutil.which("espeak-ng") and shutil.which("flite")):
    pytest.skip("espeak-ng and flite are not installed: run scripts/install_corpus_deps.sh", allow_module_level=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "echo-corpus"
    build_corpus(out, **SIZES, max_seconds=8.0, seed=3, workers=2, max_vocab=2000)
    return out


def decode(cell: dict) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(cell["bytes"]), dtype="float32")
    return audio, rate


def test_splits_columns_and_audio(corpus):
    dataset = datasets.load_from_disk(str(corpus))
    assert isinstance(dataset, datasets.DatasetDict)
    assert set(dataset) == set(SPLITS)
    for split, size in SIZES.items():
        part = dataset[split]
        assert 1 <= part.num_rows <= size
        assert part.features["audio"] == datasets.Audio(sampling_rate=16000)
        assert set(part.column_names) == {"audio", "text", "voice", "source"}
        # Encoded cells: datasets 4+ would decode them only through torchcodec.
        for row in part.cast_column("audio", datasets.Audio(decode=False)):
            audio, rate = decode(row["audio"])
            assert rate == 16000 and audio.ndim == 1
            assert 0.3 < len(audio) / rate <= 8.0
            assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.01
            assert row["text"] and normalize_text(row["text"]) == row["text"]
            assert row["voice"].split(":")[0] in available_voices()


def test_no_sentence_shared_between_splits(corpus):
    dataset = datasets.load_from_disk(str(corpus))
    texts = {split: set(dataset[split]["text"]) for split in SPLITS}
    for index, split in enumerate(SPLITS):
        for other in SPLITS[index + 1 :]:
            assert not texts[split] & texts[other], (split, other)


def voice_variant(voice: str) -> tuple[str, str]:
    """``espeak:en-us+m3`` -> (espeak, m3); ``flite:awb`` -> (flite, awb); an espeak voice with no variant -> ''."""
    family, name = voice.split(":", 1)
    return family, name.partition("+")[2] if family == "espeak" else name


def test_held_out_split_shares_no_voice_with_training(corpus):
    # Asserted from the saved metadata, not from the constants the build used.
    dataset = datasets.load_from_disk(str(corpus))
    held_out = [voice_variant(voice) for voice in dataset[HELD_OUT_SPLIT]["voice"]]
    assert held_out and all(family in ("espeak", "flite") for family, _ in held_out)
    assert {name for _, name in held_out} <= set(HELD_OUT_ESPEAK_VARIANTS) | set(HELD_OUT_FLITE_VOICES)
    for split in ("train", "validation", "test"):
        seen = {voice_variant(voice) for voice in dataset[split]["voice"]}
        assert not seen & set(held_out), split
        assert {name for family, name in seen if family == "espeak"} <= set(ESPEAK_VARIANTS)
        assert {name for family, name in seen if family == "flite"} <= set(FLITE_VOICES)


def test_held_out_voices_are_espeak_variants_kept_out_of_training():
    assert not set(HELD_OUT_ESPEAK_VARIANTS) & set(ESPEAK_VARIANTS)
    assert not set(HELD_OUT_FLITE_VOICES) & set(FLITE_VOICES)
    assert set(available_voices(held_out=True)["flite"]) <= set(HELD_OUT_FLITE_VOICES)
    assert available_voices(held_out=True)["piper"] == ()


def test_refuses_a_held_out_split_that_shares_a_voice(tmp_path):
    with pytest.raises(ValueError, match="never use.*m3"):
        build_corpus(tmp_path / "bad", **SIZES, held_out_variants=("Andy", "m3"))
    assert not (tmp_path / "bad").exists()
    rows = {
        "train": [{"voice": "espeak:en-us+m3", "text": "a b c"}],
        HELD_OUT_SPLIT: [{"voice": "espeak:en-us+m3", "text": "d"}],
    }
    with pytest.raises(ValueError, match="shares 1 voice"):
        check_held_out(rows)
    rows[HELD_OUT_SPLIT] = [{"voice": "espeak:en-us+Andy", "text": "a b c"}]
    with pytest.raises(ValueError, match="shares 1 text"):
        check_held_out(rows)


def test_reuse_on_same_parameters(corpus, capsys):
    before = (corpus / PARAMS_FILE).stat().st_mtime_ns
    build_corpus(corpus, **SIZES, max_seconds=8.0, seed=3, workers=2, max_vocab=2000)
    assert "reusing" in capsys.readouterr().out
    assert (corpus / PARAMS_FILE).stat().st_mtime_ns == before
    assert json.loads((corpus / PARAMS_FILE).read_text())["max_vocab"] == 2000


def test_audiofolder_layout(corpus):
    root = corpus / "audiofolder"
    dataset = datasets.load_from_disk(str(corpus))
    for split in SPLITS:
        with open(root / split / "metadata.jsonl", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        assert [row["text"] for row in rows] == dataset[split]["text"]
        assert all((root / split / row["file_name"]).is_file() for row in rows)
    loaded = load_audiofolder(root)
    assert set(loaded) == set(SPLITS)
    assert loaded["train"].num_rows == dataset["train"].num_rows
    assert set(loaded["test"].column_names) == {"audio", "text", "voice", "source"}
    first = loaded["test"][0]
    assert first["text"] == dataset["test"]["text"][0]
    saved = dataset["test"].cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    np.testing.assert_array_equal(decode_audio(first["audio"], 16000), decode(saved)[0])
