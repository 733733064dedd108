"""EchoFeatureExtractor: shapes, exact zeros, batch invariance, input types, a librosa reference, errors."""

import librosa
import numpy as np
import pytest
import torch

from echo_hf.feature_extraction_echo import EchoFeatureExtractor

SR = 16000


def tone_with_noise(num_samples: int, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    # Broadband noise keeps every mel bin far above float32 rounding, so the reference comparison
    # measures the pipeline rather than the log of FFT round-off near the floor.
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(num_samples)).astype(np.float32)


@pytest.fixture(scope="module")
def fe() -> EchoFeatureExtractor:
    return EchoFeatureExtractor()


def test_shapes_dtypes_and_masks(fe):
    clips = [tone_with_noise(16000), tone_with_noise(8123, seed=1), tone_with_noise(4000, seed=2)]
    out = fe(clips, sampling_rate=SR, return_tensors="pt")
    assert set(out) == set(fe.model_input_names)
    assert out["input_features"].shape == (3, 128, 100) and out["input_features"].dtype == torch.float32
    assert out["attention_mask"].shape == (3, 100) and out["attention_mask"].dtype == torch.int32
    assert out["waveform"].shape == (3, 16000) and out["waveform"].dtype == torch.float32
    assert out["waveform_attention_mask"].shape == (3, 16000)
    assert out["waveform_attention_mask"].dtype == torch.int32
    assert out["attention_mask"].sum(-1).tolist() == [100, 50, 25]  # n // 160
    assert out["waveform_attention_mask"].sum(-1).tolist() == [16000, 8123, 4000]
    assert [fe.num_frames(n) for n in (16000, 8123, 4000, 159)] == [100, 50, 25, 0]
    # padding is exactly zero in both views; real frames of a tone are not
    features = out["input_features"]
    assert torch.all(features[1, :, 50:] == 0) and torch.all(features[2, :, 25:] == 0)
    assert torch.all(out["waveform"][1, 8123:] == 0) and torch.all(out["waveform"][2, 4000:] == 0)
    assert torch.all(features[:, :, :25].amax(dim=1) > 0.5)
    torch.testing.assert_close(out["waveform"][1, :8123], torch.from_numpy(clips[1]), rtol=0, atol=0)


def test_default_return_is_numpy(fe):
    out = fe(tone_with_noise(3200), sampling_rate=SR)
    assert isinstance(out["input_features"], np.ndarray) and out["input_features"].shape == (1, 128, 20)
    assert out["input_features"].dtype == np.float32 and out["attention_mask"].dtype == np.int32


def test_digital_silence_is_exactly_zero(fe):
    out = fe(np.zeros(16000, dtype=np.float32), sampling_rate=SR)
    assert out["input_features"].shape == (1, 128, 100)
    assert np.all(out["input_features"] == 0.0)
    assert np.all(out["attention_mask"] == 1)  # silence is real input, only padding is masked


def test_silence_inside_speech_is_exactly_zero(fe):
    # Frames whose whole 400-sample window is silent must be 0 too, not just all-zero clips.
    clip = np.concatenate([tone_with_noise(3200), np.zeros(4800, np.float32), tone_with_noise(3200)])
    features = fe(clip, sampling_rate=SR)["input_features"][0]
    assert np.all(features[:, 23:48] == 0.0)  # frames centred at 23*160-200 >= 3200 .. 47*160+200 <= 8000
    assert np.all(features[:, 18] > 0) and np.all(features[:, 52] > 0)


def test_batch_equals_single_for_different_lengths(fe):
    lengths = [16000, 12345, 7999, 160, 161]
    clips = [tone_with_noise(n, freq=300 + 50 * i, seed=i) for i, n in enumerate(lengths)]
    batch = fe(clips, sampling_rate=SR, return_tensors="pt")
    for row, clip in enumerate(clips):
        single = fe(clip, sampling_rate=SR, return_tensors="pt")
        frames = single["input_features"].shape[-1]
        assert frames == len(clip) // 160
        torch.testing.assert_close(
            batch["input_features"][row, :, :frames], single["input_features"][0], rtol=0, atol=1e-6
        )
        assert torch.all(batch["input_features"][row, :, frames:] == 0)


def test_matches_librosa_reference(fe):
    clip = tone_with_noise(12000, freq=1000.0)
    power = np.abs(librosa.stft(clip.astype(np.float64), n_fft=400, hop_length=160, center=True, pad_mode="constant"))
    mel = fe.mel_filters.T @ power**2
    reference = (np.log10(np.maximum(mel, 1e-10)) - np.log10(1e-10)) / 4.0
    features = fe(clip, sampling_rate=SR)["input_features"][0]
    assert reference.shape[1] == features.shape[1] + 1  # centring gives one extra frame, which is dropped
    np.testing.assert_allclose(features, reference[:, :-1], rtol=0, atol=1e-4)


def stft_reference(fe: EchoFeatureExtractor, clips: list[np.ndarray]) -> torch.Tensor:
    """The former whole-batch formulation: torch.stft over the padded batch, |X|^2, mel matmul, floored log."""
    waveform = torch.zeros(len(clips), max(len(c) for c in clips))
    for row, clip in enumerate(clips):
        waveform[row, : len(clip)] = torch.from_numpy(clip)
    frames = waveform.shape[-1] // fe.hop_length
    window = torch.hann_window(fe.n_fft)
    stft = torch.stft(waveform, fe.n_fft, fe.hop_length, window=window, pad_mode="constant", return_complex=True)
    mel = torch.from_numpy(fe.mel_filters).float().T @ stft[..., :frames].abs() ** 2
    features = torch.log10(torch.clamp(mel / fe.log_floor, min=1.0)) / fe.log_scale
    valid = torch.arange(frames) < torch.tensor([len(c) // fe.hop_length for c in clips])[:, None]
    return features * valid[:, None, :]


# 100037 samples (625 frames) spans two CPU blocks of 512 frames; 12345 and 161 are not multiples of the hop.
REFERENCE_LENGTHS = [100037, 16000, 12345, 7999, 161]


def reference_clips() -> list[np.ndarray]:
    clips = [tone_with_noise(n, freq=300 + 70 * i, seed=i) for i, n in enumerate(REFERENCE_LENGTHS)]
    clips[0][20000:30000] = 0.0  # digital silence inside a clip: whole frames must come out exactly 0
    return clips


def test_matches_whole_batch_stft_reference(fe):
    clips = reference_clips()
    features = fe(clips, sampling_rate=SR, return_tensors="pt")["input_features"]
    reference = stft_reference(fe, clips)
    assert features.shape == reference.shape == (5, 128, 625) and features.is_contiguous()
    torch.testing.assert_close(features, reference, rtol=0, atol=1e-5)
    assert torch.equal(features == 0, reference == 0)  # silence and padding are exactly 0 in both, nothing else
    assert torch.all(features[0, :, 127:187] == 0)  # frames whose whole window lies in samples 20000..30000


def test_batch_equals_single_across_blocks(fe):
    clips = reference_clips()
    batch = fe(clips, sampling_rate=SR, return_tensors="pt")["input_features"]
    for row, clip in enumerate(clips):
        single = fe(clip, sampling_rate=SR, return_tensors="pt")["input_features"][0]
        torch.testing.assert_close(batch[row, :, : single.shape[-1]], single, rtol=0, atol=1e-6)


def test_block_and_band_sizes_do_not_change_features(fe):
    # Small blocks put block edges at many frames (and at a clip's ends); ragged mel bands split the filters.
    class SmallBlocks(EchoFeatureExtractor):
        _cpu_block_frames = 7
        _mel_band_size = 5

    clips = reference_clips()
    expected = fe(clips, sampling_rate=SR, return_tensors="pt")["input_features"]
    features = SmallBlocks()(clips, sampling_rate=SR, return_tensors="pt")["input_features"]
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-6)


def test_mel_filters_are_slaney_0_to_8000_hz(fe):
    expected = librosa.filters.mel(sr=SR, n_fft=400, n_mels=128, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
    np.testing.assert_allclose(fe.mel_filters.T, expected, rtol=1e-4, atol=1e-7)


def test_int16_equals_float_over_32768(fe):
    ints = (tone_with_noise(8000) * 32767).astype(np.int16)
    from_int = fe(ints, sampling_rate=SR)
    from_float = fe(ints.astype(np.float32) / 32768.0, sampling_rate=SR)
    np.testing.assert_array_equal(from_int["input_features"], from_float["input_features"])
    np.testing.assert_array_equal(from_int["waveform"], from_float["waveform"])


def test_torch_and_float64_inputs_match_numpy(fe):
    clip = tone_with_noise(8000)
    from_numpy = fe(clip, sampling_rate=SR)["input_features"]
    from_tensor = fe(torch.from_numpy(clip), sampling_rate=SR)["input_features"]
    from_tensor_list = fe([torch.from_numpy(clip)], sampling_rate=SR)["input_features"]
    from_float64 = fe(clip.astype(np.float64), sampling_rate=SR)["input_features"]
    np.testing.assert_array_equal(from_numpy, from_tensor)
    np.testing.assert_array_equal(from_numpy, from_tensor_list)
    np.testing.assert_array_equal(from_numpy, from_float64)
    half = torch.from_numpy(clip).to(torch.bfloat16)
    from_half = fe(half, sampling_rate=SR)["input_features"]
    assert from_half.dtype == np.float32
    np.testing.assert_array_equal(from_half, fe(half.float(), sampling_rate=SR)["input_features"])


def test_flat_list_is_one_clip_and_list_of_lists_is_a_batch(fe):
    # As in transformers' Whisper and Wav2Vec2 feature extractors: numbers make one clip, clips make a batch.
    clips = [tone_with_noise(3200), tone_with_noise(1700, seed=1)]
    from_array = fe(clips[0], sampling_rate=SR)
    for flat in (clips[0].tolist(), tuple(clips[0].tolist())):
        from_flat = fe(flat, sampling_rate=SR)
        assert from_flat["input_features"].shape == (1, 128, 20)
        assert set(from_flat) == set(from_array)
        for key in from_array:
            np.testing.assert_array_equal(from_flat[key], from_array[key], err_msg=key)
    from_arrays = fe(clips, sampling_rate=SR)
    for nested in ([clip.tolist() for clip in clips], tuple(tuple(clip.tolist()) for clip in clips)):
        from_lists = fe(nested, sampling_rate=SR)
        assert from_lists["input_features"].shape == (2, 128, 20)
        for key in from_arrays:
            np.testing.assert_array_equal(from_lists[key], from_arrays[key], err_msg=key)
    with pytest.raises(ValueError, match=r"Clip 0 has dtype torch.int64"):  # Python ints, like np.array of them
        fe([0, 1, 2] * 100, sampling_rate=SR)


def test_padding_max_length(fe):
    out = fe([tone_with_noise(8000)], sampling_rate=SR, padding="max_length", return_tensors="pt")
    assert out["input_features"].shape == (1, 128, 3000) and out["waveform"].shape == (1, 480000)
    assert out["attention_mask"].sum().item() == 50 and torch.all(out["input_features"][0, :, 50:] == 0)
    short = fe(tone_with_noise(8000), sampling_rate=SR, padding="max_length", max_length=9600, return_tensors="pt")
    assert short["input_features"].shape == (1, 128, 60) and short["waveform_attention_mask"].sum().item() == 8000
    longest = fe(tone_with_noise(8000), sampling_rate=SR, return_tensors="pt")
    torch.testing.assert_close(short["input_features"][..., :50], longest["input_features"], rtol=0, atol=1e-6)


def test_attention_masks_can_be_left_out():
    out = EchoFeatureExtractor(return_attention_mask=False)(tone_with_noise(1600), sampling_rate=SR)
    assert set(out) == {"input_features", "waveform"}
    assert "attention_mask" in EchoFeatureExtractor()(tone_with_noise(1600), sampling_rate=SR)


def test_save_and_load_config(tmp_path):
    fe = EchoFeatureExtractor(feature_size=80, log_scale=5.0, chunk_length=20)
    fe.save_pretrained(tmp_path)
    loaded = EchoFeatureExtractor.from_pretrained(tmp_path)
    assert (loaded.feature_size, loaded.log_scale, loaded.chunk_length) == (80, 5.0, 20)
    assert "mel_filters" not in (tmp_path / "preprocessor_config.json").read_text()
    np.testing.assert_array_equal(loaded.mel_filters, fe.mel_filters)
    clip = tone_with_noise(4000)
    np.testing.assert_array_equal(
        loaded(clip, sampling_rate=SR)["input_features"], fe(clip, sampling_rate=SR)["input_features"]
    )


def test_missing_sampling_rate_warns(fe, caplog):
    # transformers loggers do not propagate to the root logger by default
    from transformers.utils import logging

    logging.enable_propagation()
    try:
        fe(tone_with_noise(1600))
    finally:
        logging.disable_propagation()
    assert "sampling_rate" in caplog.text


@pytest.mark.parametrize(
    ("raw_speech", "kwargs", "match"),
    [
        (np.zeros(16000, np.float32), {"sampling_rate": 44100}, r"44100 Hz.*16000.*librosa\.resample"),
        (np.zeros((2, 16000), np.float32), {}, r"shape \(2, 16000\).*mono.*mean\(axis=0\)"),
        ([np.zeros((2, 16000), np.float32)], {}, r"Clip 0.*mono.*mean\(axis=0\)"),
        (torch.zeros(16000, 2), {}, r"mono.*axis=1"),
        ([np.zeros(1600, np.float32), np.zeros(0, np.float32)], {}, r"Clip 1 has 0 samples.*empty"),
        (np.zeros(100, np.float32), {}, r"100 samples, fewer than one frame"),
        ([], {}, r"empty list"),
        (np.array([0.0, np.nan] * 800, np.float32), {}, r"NaN or infinite"),
        (np.array([0.0, np.inf] * 800, np.float32), {}, r"NaN or infinite"),
        (np.zeros(31 * SR, np.float32), {}, r"31\.00 s long.*at most 30 s.*chunk_length_s"),
        (np.zeros(1600, np.int32), {}, r"dtype.*int16"),
        (np.zeros(9600, np.float32), {"padding": "max_length", "max_length": 8000}, r"more than `max_length"),
        (np.zeros(9600, np.float32), {"padding": "max_length", "max_length": 31 * SR}, r"at most 480000"),
        (np.zeros(9600, np.float32), {"padding": "do_not_pad"}, r"not supported"),
        ("speech.wav", {}, r"numpy array, a torch tensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(fe, raw_speech, kwargs, match):
    kwargs.setdefault("sampling_rate", SR)
    with pytest.raises(ValueError, match=match):
        fe(raw_speech, **kwargs)


@pytest.mark.parametrize("padding_value", [-1.0, 1e-3])
def test_nonzero_padding_value_is_rejected(padding_value, tmp_path):
    with pytest.raises(ValueError, match=rf"`padding_value` is {padding_value}.*padding_value=0\.0"):
        EchoFeatureExtractor(padding_value=padding_value)
    # a saved config with another padding value is refused on load, too
    EchoFeatureExtractor().save_pretrained(tmp_path)
    path = tmp_path / "preprocessor_config.json"
    path.write_text(path.read_text().replace('"padding_value": 0.0', f'"padding_value": {padding_value}'))
    with pytest.raises(ValueError, match=r"`padding_value` is"):
        EchoFeatureExtractor.from_pretrained(tmp_path)
