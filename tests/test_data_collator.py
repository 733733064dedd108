"""EchoSpeechCollator: audio padded by the feature extractor, labels padded with -100, the final 0 kept."""

import numpy as np
import torch

from echo_hf import EchoFeatureExtractor, EchoProcessor, build_tokenizer
from echo_hf.training.baselines import WHISPER_FEATURE_KWARGS, whisper_feature_extractor
from echo_hf.training.data_collator import EchoSpeechCollator


def make_collator() -> EchoSpeechCollator:
    tokenizer = build_tokenizer(["hello world", "zeros are information"], vocab_size=280, min_frequency=1)
    return EchoSpeechCollator(EchoProcessor(EchoFeatureExtractor(), tokenizer))


def test_collator_pads_audio_to_longest_and_labels_with_minus_100_keeping_end_of_text():
    rng = np.random.default_rng(0)
    short, long = rng.normal(0, 0.1, 8000).astype(np.float32), rng.normal(0, 0.1, 12800).astype(np.float32)
    collator = make_collator()
    batch = collator([{"audio": short, "labels": [5, 7, 0]}, {"audio": long, "labels": [9, 0]}])

    assert batch["labels"].tolist() == [[5, 7, 0], [9, 0, -100]]
    assert batch["labels"].dtype == torch.int64
    assert batch["waveform"].shape == (2, 12800)
    assert batch["input_features"].shape == (2, 128, 80)
    assert batch["waveform_attention_mask"].sum(1).tolist() == [8000, 12800]
    assert batch["attention_mask"].sum(1).tolist() == [50, 80]
    # padding is exactly zero in both views
    assert torch.all(batch["waveform"][0, 8000:] == 0)
    assert torch.all(batch["input_features"][0, :, 50:] == 0)
    # the short clip's features are the ones it gets alone
    alone = collator.processor.feature_extractor(short, sampling_rate=16000, return_tensors="pt")
    torch.testing.assert_close(batch["input_features"][0, :, :50], alone["input_features"][0])
    torch.testing.assert_close(batch["waveform"][0, :8000], torch.from_numpy(short))


def test_collator_without_labels_gives_model_inputs_only():
    batch = make_collator()([{"audio": np.zeros(3200, np.float32)}])
    assert set(batch) == {"input_features", "attention_mask", "waveform", "waveform_attention_mask"}


def test_whisper_baseline_batch_is_padded_to_its_fixed_input_with_the_mask_of_real_frames():
    values = {"num_mel_bins": 128, "max_source_positions": 100}  # 2 s of input
    tokenizer = build_tokenizer(["hello world"], vocab_size=280, min_frequency=1)
    processor = EchoProcessor(whisper_feature_extractor(values), tokenizer)
    collator = EchoSpeechCollator(processor, feature_kwargs=WHISPER_FEATURE_KWARGS)
    clips = [np.full(8000, 0.1, np.float32), np.full(16000, 0.1, np.float32)]
    batch = collator([{"audio": clip, "labels": [5, 0]} for clip in clips])
    assert batch["input_features"].shape == (2, 128, 200)
    # Whisper's SpecAugment spans only the frames a clip has (one per 160 samples).
    assert batch["attention_mask"].sum(1).tolist() == [50, 100]
