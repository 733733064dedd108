"""Every datasets release from 3.6 on: each form an audio cell takes (per release) decodes to the same clip
everywhere."""

import librosa
import numpy as np
import pytest
import torch
from conftest import tiny_model
from speech_fixtures import SPEECH, StandInAudioDecoder
from transformers import pipeline

from echo_hf import EchoFeatureExtractor, EchoProcessor, build_tokenizer
from echo_hf.audio_loading import decode_audio, load_audio_file
from echo_hf.training.data_collator import EchoSpeechCollator

RATE = 16000
CLIP = SPEECH / "hello_world.wav"


@pytest.fixture(scope="module")
def asr():
    tokenizer = build_tokenizer(["hello world", "echo hears silence"], vocab_size=280, min_frequency=1)
    return pipeline(
        "automatic-speech-recognition",
        model=tiny_model(),
        tokenizer=tokenizer,
        feature_extractor=EchoFeatureExtractor(),
    )


def cell_forms() -> dict:
    """hello_world.wav as each kind of datasets audio cell, and each form of the torchcodec decoder's samples."""
    clip = torch.from_numpy(load_audio_file(CLIP, RATE))
    return {
        "decode=False bytes": {"bytes": CLIP.read_bytes(), "path": CLIP.name},
        "decode=False path": {"bytes": None, "path": str(CLIP)},
        "datasets 3 decoded": {"path": str(CLIP), "array": clip.numpy(), "sampling_rate": RATE},
        "datasets 4+ decoder, mono": StandInAudioDecoder(clip[None, :], RATE),
        "datasets 4+ decoder, stereo": StandInAudioDecoder(torch.stack([clip * 0.5, clip * 1.5]), RATE),
    }


def test_every_audio_cell_form_gives_the_same_clip_to_the_collator_and_the_pipeline(asr):
    expected = load_audio_file(CLIP, RATE)
    collator = EchoSpeechCollator(EchoProcessor(asr.feature_extractor, asr.tokenizer))
    for form, cell in cell_forms().items():
        np.testing.assert_allclose(decode_audio(cell, RATE), expected, atol=1e-7, err_msg=form)
        waveform = collator([{"audio": cell}])["waveform"][0].numpy()
        np.testing.assert_allclose(waveform, expected, atol=1e-7, err_msg=f"{form} via the collator")
        (model_inputs,) = asr.preprocess(cell)
        np.testing.assert_allclose(model_inputs["waveform"][0].numpy(), expected, atol=1e-7, err_msg=f"{form} (asr)")


def test_decoder_samples_are_channels_first_and_resampled():
    # torchcodec's data is (channels, samples) even when a clip has fewer samples than channels.
    short = torch.tensor([[0.25], [0.75]])
    np.testing.assert_array_equal(decode_audio(StandInAudioDecoder(short, RATE), RATE), [0.5])
    at_8k = librosa.resample(load_audio_file(CLIP, RATE), orig_sr=RATE, target_sr=8000)
    resampled = decode_audio(StandInAudioDecoder(torch.from_numpy(at_8k)[None, :], 8000), RATE)
    np.testing.assert_array_equal(resampled, decode_audio({"array": at_8k, "sampling_rate": 8000}, RATE))
    assert abs(resampled.shape[0] - 2 * at_8k.shape[0]) <= 1


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        (None, r"from None \(a missing clip\?\).*datasets audio cell"),
        ({"bytes": None, "path": None}, r"keys \['bytes', 'path'\] \(bytes, path None\).*drop the example"),
        ({"sampling_rate": RATE}, r"needs `array`.*`bytes` or `path`.*\['sampling_rate'\]"),
        (3.5, r"from a float: '3\.5'.*file path.*Audio\(decode=False\).*AudioDecoder"),
    ],
)
def test_a_bad_cell_says_what_is_wrong_and_what_to_pass(cell, match, asr):
    with pytest.raises(ValueError, match=match):
        decode_audio(cell, RATE)
    if isinstance(cell, dict):
        with pytest.raises(ValueError, match=match):
            list(asr.preprocess(cell))  # a generator: the error comes with the first chunk
