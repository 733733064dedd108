"""EchoProcessor: features + labels (ending in 0, padded with -100), decoding, save/load through AutoProcessor."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from echo_hf import EchoConfig, EchoFeatureExtractor, EchoProcessor, build_tokenizer

SR = 16000
TEXTS = ["the cat sat on the mat", "a dog"]


@pytest.fixture(scope="module")
def processor() -> EchoProcessor:
    corpus = ["the cat sat on the mat", "a dog ran after the cat", "on the mat sat a dog"] * 3
    return EchoProcessor(EchoFeatureExtractor(), build_tokenizer(corpus, vocab_size=290))


def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [0.1 * rng.standard_normal(n).astype(np.float32) for n in (3200, 1600)]


def test_audio_and_text_give_features_and_labels(processor):
    out = processor(audio=clips(), text=TEXTS, sampling_rate=SR, return_tensors="pt")
    assert set(out) == {"input_features", "attention_mask", "waveform", "waveform_attention_mask", "labels"}
    assert out["input_features"].shape == (2, 128, 20) and out["waveform"].shape == (2, 3200)
    expected = [processor.tokenizer(text)["input_ids"] + [0] for text in TEXTS]
    labels = out["labels"]
    assert labels.dtype == torch.int64 and labels.shape == (2, len(expected[0]))
    assert labels[0].tolist() == expected[0]  # the longest row ends in its real end-of-text 0
    assert labels[1, : len(expected[1])].tolist() == expected[1]
    assert torch.all(labels[1, len(expected[1]) :] == -100)  # padding is -100, never 0
    features_only = processor.feature_extractor(clips(), sampling_rate=SR, return_tensors="pt")
    torch.testing.assert_close(out["input_features"], features_only["input_features"], rtol=0, atol=0)


def test_text_only_labels(processor):
    single = processor(text="a dog")
    assert single["labels"] == processor.tokenizer("a dog")["input_ids"] + [0]
    batch = processor(text=TEXTS)
    assert [row[-1] for row in batch["labels"]] == [0, 0]
    assert processor(text=["a dog"], return_tensors="pt")["labels"].shape == (1, len(single["labels"]))


def test_audio_only_matches_feature_extractor(processor):
    out = processor(audio=clips()[0], sampling_rate=SR)
    assert "labels" not in out
    np.testing.assert_array_equal(
        out["input_features"], processor.feature_extractor(clips()[0], sampling_rate=SR)["input_features"]
    )


def test_decode_forwards_to_tokenizer(processor):
    labels = processor(text=TEXTS, return_tensors="pt")["labels"]
    # what a generated sequence looks like: start 0, tokens, end 0, pad 0
    generated = torch.where(labels == -100, 0, labels)
    generated = torch.cat([torch.zeros(len(TEXTS), 1, dtype=generated.dtype), generated], dim=1)
    assert processor.batch_decode(generated, skip_special_tokens=True) == TEXTS
    assert processor.decode(generated[1], skip_special_tokens=True) == TEXTS[1]


def test_errors(processor):
    with pytest.raises(ValueError, match="needs `audio`, `text` or both"):
        processor()
    with pytest.raises(ValueError, match="8000 Hz.*resample"):
        processor(audio=clips()[0], sampling_rate=8000)


def test_save_and_load_with_auto_processor(processor, tmp_path):
    EchoConfig(vocab_size=len(processor.tokenizer)).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, EchoProcessor) and isinstance(loaded.feature_extractor, EchoFeatureExtractor)
    assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
    original = processor(audio=clips(), text=TEXTS, sampling_rate=SR, return_tensors="pt")
    reloaded = loaded(audio=clips(), text=TEXTS, sampling_rate=SR, return_tensors="pt")
    for key in original:
        torch.testing.assert_close(reloaded[key], original[key], rtol=0, atol=0)


def test_saved_folder_loads_with_trust_remote_code_alone(processor, tmp_path):
    EchoConfig(vocab_size=len(processor.tokenizer)).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "processing_echo.py").exists() and (tmp_path / "feature_extraction_echo.py").exists()
    # A fresh interpreter that never imports echo_hf (cwd outside the repo, no PYTHONPATH).
    program = textwrap.dedent(f"""
        import sys, numpy as np
        from transformers import AutoProcessor
        processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        out = processor(audio=np.zeros(1600, np.float32), text="a dog", sampling_rate=16000, return_tensors="pt")
        assert "echo_hf" not in sys.modules
        print(type(processor).__name__, tuple(out["input_features"].shape), out["labels"][0, -1].item())
    """)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "EchoProcessor (1, 128, 10) 0" in result.stdout


def test_model_input_names(processor):
    assert processor.model_input_names == EchoFeatureExtractor.model_input_names
