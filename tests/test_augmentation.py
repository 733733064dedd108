"""Training-clip augmentation: seeded, silence kept where documented, transcripts untouched, bad settings named."""

import json

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
from speech_fixtures import SPEECH

pytest.importorskip("audiomentations")
pytest.importorskip("pyroomacoustics")

from echo_hf.training.augmentation import (  # noqa: E402
    AUGMENTATIONS,
    AugmentationEpochCallback,
    Augmenter,
    ClipAugmenter,
    EchoAugmentationConfig,
    index_for_augmentation,
    shift_formants,
    zero_runs,
)
from echo_hf.training.data_collator import EchoSpeechCollator  # noqa: E402
from echo_hf.training.run_config import EchoTrainingConfig  # noqa: E402
from echo_hf.training.speech_datasets import load_speech_dataset  # noqa: E402

RATE = 16000
LEAD, TRAIL = 4000, 6000  # samples of digital silence around the speech


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    speech, rate = sf.read(SPEECH / "hello_world.wav", dtype="float32")
    assert rate == RATE
    speech = speech[np.flatnonzero(speech)[0] : np.flatnonzero(speech)[-1] + 1]
    return np.concatenate([np.zeros(LEAD, np.float32), speech, np.zeros(TRAIL, np.float32)])


def only(name: str, **settings) -> Augmenter:
    return Augmenter(EchoAugmentationConfig.from_dict({name: {"p": 1.0, **settings}}))


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_each_augmentation_is_a_function_of_its_seed(clip, name):
    augmenter = only(name)
    first = augmenter(clip, RATE, np.random.default_rng(7))
    again = augmenter(clip, RATE, np.random.default_rng(7))
    other = augmenter(clip, RATE, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and np.isfinite(first).all() and np.abs(first).max() <= 1.0
    assert len(first) != len(other) or not np.array_equal(first, other)
    assert not np.array_equal(first[: len(clip)], clip[: len(first)])  # it did something
    # Global random states are untouched (audiomentations draws from them inside).
    state = np.random.get_state()[1].copy()
    augmenter(clip, RATE, np.random.default_rng(9))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("name", ["speed", "tempo", "pitch", "formant", "band_limit", "gain"])
def test_digital_silence_stays_exactly_zero(clip, name):
    out = only(name)(clip, RATE, np.random.default_rng(3))
    ratio = len(out) / len(clip)
    lead, trail = int(LEAD * ratio) - 2, int(TRAIL * ratio) - 2
    assert not out[:lead].any() and not out[len(out) - trail :].any()
    assert out[lead + 200 : len(out) - trail - 200].any()


@pytest.mark.parametrize("name", ["reverb", "noise"])
def test_rooms_and_noise_fill_the_silence(clip, name):
    # Documented: a recording in a room, or with noise, has no digital zeros after its speech starts.
    out = only(name)(clip, RATE, np.random.default_rng(3))
    assert not zero_runs(out[LEAD + 1000 :]).any()


def test_probability_zero_and_silent_clips_are_unchanged(clip):
    augmenter = Augmenter(EchoAugmentationConfig.from_dict({name: {"p": 0.0} for name in AUGMENTATIONS}))
    np.testing.assert_array_equal(augmenter(clip, RATE, np.random.default_rng(0)), clip)
    silent = np.zeros(8000, np.float32)
    np.testing.assert_array_equal(only("noise")(silent, RATE, np.random.default_rng(0)), silent)


def test_collator_augments_training_clips_never_transcripts_nor_other_splits(tmp_path):
    from speech_fixtures import save_speech_dataset

    from echo_hf import EchoFeatureExtractor, EchoProcessor
    from echo_hf.training.tokenization_echo import build_tokenizer

    processor = EchoProcessor(EchoFeatureExtractor(), build_tokenizer(["hello world"], vocab_size=257))
    data = load_speech_dataset(str(save_speech_dataset(tmp_path / "data")))["train"]
    data = data.add_column("labels", [[i + 1, 0] for i in range(len(data))])
    config = EchoAugmentationConfig.from_dict({"seed": 1, "speed": {"p": 1.0}, "noise": {"p": 1.0}})
    augment = ClipAugmenter(config, RATE)
    train = index_for_augmentation(data)
    assert train["text"] == data["text"] and train["labels"] == data["labels"]
    collate, plain = EchoSpeechCollator(processor, augment=augment), EchoSpeechCollator(processor)
    examples = [train[i] for i in range(len(train))]
    batch = collate(examples)
    torch.testing.assert_close(batch["labels"], plain(examples)["labels"], rtol=0, atol=0)
    assert not torch.equal(batch["waveform"], plain(examples)["waveform"])
    torch.testing.assert_close(collate(examples)["waveform"], batch["waveform"], rtol=0, atol=0)  # seeded
    # Another epoch draws anew; a split without the index column (evaluation) is never augmented.
    AugmentationEpochCallback(augment).on_epoch_begin(None, type("State", (), {"epoch": 1.0})(), None)
    assert not torch.equal(collate(examples)["waveform"], batch["waveform"])
    evaluation = [data[i] for i in range(len(data))]
    torch.testing.assert_close(collate(evaluation)["waveform"], plain(evaluation)["waveform"], rtol=0, atol=0)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"echo": {"p": 0.5}}, "Unknown augmentation 'echo'"),
        ({"speed": {"p": 1.5}}, "'speed': p must be a probability"),
        ({"speed": {"p": 0.5, "factor": [0.2, 1.1]}}, "'speed': factor must be"),
        ({"noise": {"p": 0.5, "snr_db": [30, 5]}}, "'noise': snr_db must be"),
        ({"gain": {"p": 0.5, "gains": [1, 2]}}, r"Unknown setting\(s\) \['gains'\] of augmentation 'gain'"),
        ({"pitch": 0.5}, "'pitch' must be an object with a probability"),
        ({"band_limit": {"p": 0.5, "low_hz": [1500, 1900], "high_hz": [1000, 3000]}}, "must lie below high_hz"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"reverb": {"p": 0.5, "rt60_s": [0.1, 0.5]}}, r"'reverb': rt60_s must be \[low, high\] with 0.2 <= low"),
    ],
)
def test_bad_augmentation_settings_are_named_when_the_run_config_loads(tmp_path, section, message):
    path = tmp_path / "run.json"
    path.write_text(
        json.dumps({"model": "m", "data": "d", "training_args": {"output_dir": "o"}, "augmentation": section})
    )
    with pytest.raises(ValueError, match=message):
        EchoTrainingConfig.from_json(path)


def test_run_config_round_trips_its_augmentation(tmp_path):
    section = {"seed": 4, "reverb": {"p": 0.2, "rt60_s": [0.3, 0.6]}}
    config = EchoTrainingConfig(model="m", data="d", training_args={"output_dir": "o"}, augmentation=section)
    written = config.to_dict()["augmentation"]
    assert written == {"seed": 4, "reverb": {"p": 0.2, "rt60_s": [0.3, 0.6]}}
    assert EchoTrainingConfig(model="m", data="d", training_args={"output_dir": "o"}, augmentation=written) == config


def test_formant_shift_moves_the_resonances_and_keeps_the_pitch_and_length():
    # A 100 Hz pulse train through resonances at 700 and 2000 Hz: a vowel whose formants and pitch are known.
    rate, f0 = RATE, 100
    vowel = np.zeros(rate)
    vowel[:: rate // f0] = 1.0
    for centre, bandwidth in ((700, 80), (2000, 120)):
        radius = np.exp(-np.pi * bandwidth / rate)
        vowel = scipy.signal.lfilter([1.0], [1.0, -2 * radius * np.cos(2 * np.pi * centre / rate), radius**2], vowel)
    vowel = (0.5 * vowel / np.abs(vowel).max()).astype(np.float32)

    def formants_and_pitch(audio):
        harmonics = np.arange(1, 40) * f0
        spectrum = np.abs(np.fft.rfft(audio[2000:-2000], rate))
        amplitude = np.interp(harmonics, np.fft.rfftfreq(rate, 1 / rate), spectrum)
        first = harmonics[np.argmax(np.where(harmonics < 1300, amplitude, 0))]
        second = harmonics[np.argmax(np.where(harmonics > 1300, amplitude, 0))]
        middle = audio[4000:12000].astype(np.float64)
        autocorrelation = np.correlate(middle, middle, "full")[len(middle) - 1 :]
        return first, second, rate / (40 + np.argmax(autocorrelation[40:400]))

    assert formants_and_pitch(vowel) == (700, 2000, f0)
    for factor in (0.8, 1.25):
        shifted = shift_formants(vowel, rate, factor)
        first, second, pitch = formants_and_pitch(shifted)
        assert len(shifted) == len(vowel) and pitch == f0
        # Measured on the harmonics, 100 Hz apart: each formant lands on a harmonic next to where it should be.
        assert abs(first - 700 * factor) <= f0 and abs(second - 2000 * factor) <= f0
