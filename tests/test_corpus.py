"""Build a tiny synthetic corpus end to end and check its splits, audio, transcripts, reuse and audiofolder."""

import io
import json
import shutil

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
sf = pytest.importorskip("soundfile")

from echo_hf.audio_loading import decode_audio  # noqa: E402
from echo_hf.corpus.build import PARAMS_FILE, SPLITS, build_corpus  # noqa: E402
from echo_hf.corpus.speech import available_voices  # noqa: E402
from echo_hf.training.speech_datasets import load_audiofolder  # noqa: E402
from echo_hf.training.text_normalization import normalize_text  # noqa: E402

SIZES = {"train": 6, "validation": 2, "test": 2}

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
    assert not texts["train"] & texts["validation"]
    assert not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]


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
