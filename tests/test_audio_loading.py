"""audio_loading: one rule turns files, bytes, arrays and datasets dicts into mono float32, for every caller."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_model
from transformers import pipeline

from echo_hf import EchoFeatureExtractor, build_tokenizer
from echo_hf.audio_loading import INT16_SCALE, decode_audio, load_audio_file, to_mono_float, to_mono_tensor

RATE = 16000


def stereo(num_samples: int = 4000, seed: int = 0) -> np.ndarray:
    """(channels=2, samples) float32 with different channels."""
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((2, num_samples))).astype(np.float32)


@pytest.fixture(scope="module")
def asr():
    tokenizer = build_tokenizer(["hello world", "zeros are information"], vocab_size=280, min_frequency=1)
    return pipeline(
        "automatic-speech-recognition",
        model=tiny_model(),
        tokenizer=tokenizer,
        feature_extractor=EchoFeatureExtractor(),
    )


def pipeline_waveform(asr, inputs) -> np.ndarray:
    (model_inputs,) = asr.preprocess(inputs)
    return model_inputs["waveform"][0].numpy()


def test_decode_audio_reads_bytes_resamples_and_downmixes():
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t) * 0.5], axis=1).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, 8000, format="WAV", subtype="FLOAT")
    audio = decode_audio({"bytes": buffer.getvalue(), "path": "x.wav"}, 16000)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - 16000) <= 1
    # mean of the channels: amplitude 0.75 of the 440 Hz tone
    assert abs(np.abs(audio[2000:14000]).max() - 0.75) < 0.02
    decoded = decode_audio({"array": stereo.T, "sampling_rate": 8000}, 16000)
    np.testing.assert_allclose(decoded, audio, atol=1e-4)


def test_one_stereo_clip_gives_one_mono_clip_through_every_path(asr, tmp_path):
    channels_first = stereo()
    expected = channels_first.mean(axis=0)
    path = tmp_path / "stereo.wav"
    sf.write(path, channels_first.T, RATE, subtype="FLOAT")
    forms = {
        "array (channels, samples)": channels_first,
        "array (samples, channels)": channels_first.T,
        "tensor": torch.from_numpy(channels_first),
        "int16": (channels_first * INT16_SCALE).astype(np.int16),
        "big-endian": channels_first.astype(">f4"),
    }
    for form, audio in forms.items():
        # int16 is scaled to float first, then averaged, like float audio
        reference = expected if form != "int16" else (audio.astype(np.float32) / INT16_SCALE).mean(axis=0)
        results = {
            "pipeline": pipeline_waveform(asr, audio),
            "pipeline dict": pipeline_waveform(asr, {"raw": audio, "sampling_rate": RATE}),
            "dataset": decode_audio(audio, RATE),
            "dataset dict": decode_audio({"array": audio, "sampling_rate": RATE}, RATE),
        }
        for path_name, result in results.items():
            np.testing.assert_array_equal(result, reference, err_msg=f"{form} via {path_name}")
    files = {
        "file": load_audio_file(path, RATE),
        "pipeline file": pipeline_waveform(asr, str(path)),
        "pipeline bytes": pipeline_waveform(asr, path.read_bytes()),
        "dataset bytes": decode_audio({"bytes": path.read_bytes(), "path": None}, RATE),
        "dataset path": decode_audio({"bytes": None, "path": str(path)}, RATE),
    }
    for path_name, result in files.items():
        np.testing.assert_array_equal(result, expected, err_msg=path_name)
    # The feature extractor refuses to downmix, and its hint gives the same clip the other paths give.
    fe = asr.feature_extractor
    for audio in (channels_first, channels_first.T):
        with pytest.raises(ValueError, match=r"\(2 channels\).*mono.*mean\(axis=0\)"):
            fe(audio, sampling_rate=RATE)
    hinted = fe(channels_first.mean(axis=0), sampling_rate=RATE)
    for name, value in fe(decode_audio(channels_first, RATE), sampling_rate=RATE).items():
        np.testing.assert_array_equal(value, hinted[name], err_msg=name)


def test_channel_axis_is_the_shorter_one_and_the_last_on_a_tie():
    clip = stereo()[0]
    for one_channel in (clip[None, :], clip[:, None]):
        np.testing.assert_array_equal(to_mono_float(one_channel), clip)
        torch.testing.assert_close(to_mono_tensor(one_channel, max_channels=1), torch.from_numpy(clip))
    square = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)  # 2 samples of 2 channels
    np.testing.assert_array_equal(to_mono_float(square), [0.5, 0.375])
    fe = EchoFeatureExtractor()
    np.testing.assert_array_equal(
        fe(clip[None, :], sampling_rate=RATE)["waveform"], fe(clip, sampling_rate=RATE)["waveform"]
    )


def test_max_channels_is_each_callers_choice():
    four = np.random.default_rng(0).standard_normal((4, 3200)).astype(np.float32)
    # A dataset example is one clip: any channel count is averaged.
    np.testing.assert_allclose(decode_audio(four, RATE), four.mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(decode_audio({"array": four.T, "sampling_rate": RATE}, RATE), four.mean(0), atol=1e-7)
    # The pipeline averages stereo only: four rows are likelier a batch of clips.
    with pytest.raises(ValueError, match=r"shape \(4, 3200\) \(4 channels\).*at most 2 channels.*list\(batch\)"):
        to_mono_float(four)
    with pytest.raises(ValueError, match=r"\(4 channels\).*at most 2"):
        decode_audio(four, RATE, max_channels=2)


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (np.zeros(1600, np.int32), r"Audio has dtype torch\.int32.*int16"),
        (np.array(["a", "b"]), r"Audio has dtype <U1.*int16"),
        (np.zeros((2, 3, 400), np.float32), r"shape \(2, 3, 400\).*1-D"),
        ({"sampling_rate": RATE}, r"needs `array`.*`bytes` or `path`.*\['sampling_rate'\]"),
    ],
)
def test_bad_audio_raises_clear_errors(audio, match):
    with pytest.raises(ValueError, match=match):
        decode_audio(audio, RATE, max_channels=2)
