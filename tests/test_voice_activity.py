"""Voice activity detection: Silero's bundled model, run frame by frame here, against Silero's own wrapper; speech
heard in the real clips and not in noise or tones; the pipeline's `vad_threshold` empties non-speech only."""

import numpy as np
import pytest
import torch
from trained_echo import CHUNK_S, RATE, SLOT_S, STRIDE_S, clips, trained_echo
from transformers import pipeline

from echo_hf.voice_activity_echo import SpeechDetector, silero_model_path


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return SpeechDetector(RATE)


@pytest.fixture(scope="module")
def asr():
    model, processor = trained_echo()
    return pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
    )


def noise_and_tone(seconds: float = 2.0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    return [
        (0.05 * rng.normal(size=t.size)).astype(np.float32),
        (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
    ]


def test_probabilities_equal_silero_own_wrapper(detector):
    threads = torch.get_num_threads()
    try:
        from silero_vad.utils_vad import OnnxWrapper  # importing silero_vad sets torch to one thread

        reference = OnnxWrapper(str(silero_model_path()), force_onnx_cpu=True)
    finally:
        torch.set_num_threads(threads)
    audio = np.concatenate([clips()[0][0], noise_and_tone(0.5)[0]])[: 512 * 40 + 100]  # a partial last frame
    expected = reference.audio_forward(torch.from_numpy(audio)[None], RATE)[0].numpy()
    got = detector.probabilities(audio)
    assert got.shape == (41,)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_speech_is_heard_and_noise_and_tones_are_not(detector):
    for clip in clips()[0]:
        assert detector.speech_seconds(clip, 0.4) > 0.5
    for sound in noise_and_tone():
        assert detector.speech_seconds(sound, 0.4) == 0.0
    assert detector.probabilities(np.zeros(0, np.float32)).shape == (0,)


def test_pipeline_vad_empties_non_speech_and_keeps_speech(asr):
    audio, texts = clips()
    for sound in noise_and_tone():
        assert asr(sound)["text"]  # the model reads words into these...
        assert asr(sound, vad_threshold=0.4) == {"text": ""}  # ...which VAD does not let it
    assert [asr(clip, vad_threshold=0.4)["text"] for clip in audio] == texts
    # in chunks, one per slot: a slot of noise (between 0.2 s of zeros, as the clips' slots) between two clips is
    # dropped, the clips are kept
    slot, edge = round(SLOT_S * RATE), round(0.2 * RATE)
    noise = np.pad(noise_and_tone(SLOT_S)[0][: slot - 2 * edge], edge)
    tail = np.zeros(round(2 * STRIDE_S * RATE), np.float32)
    recording = np.concatenate([audio[0][:slot], noise, audio[1][:slot], tail])
    out = asr(recording, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, vad_threshold=0.4, batch_size=2)
    assert out["text"] == f"{texts[0]} {texts[1]}"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"vad_threshold": 1.0}, "speech probability in"),
        ({"vad_threshold": 0}, "speech probability in"),
        ({"vad_threshold": 0.4, "vad_min_speech_s": 0}, "must be above 0"),
        ({"vad_min_speech_s": 0.1}, "pass that too"),
    ],
)
def test_bad_vad_settings_are_value_errors(asr, options, message):
    with pytest.raises(ValueError, match=message):
        asr(clips()[0][0], **options)


def test_detector_refuses_rates_it_does_not_run_at():
    with pytest.raises(ValueError, match="16000 or 8000 Hz"):
        SpeechDetector(22050)
