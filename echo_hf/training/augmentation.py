"""Waveform augmentation of training clips, drawn per clip on the fly: the run config's `augmentation` section.

    "augmentation": {"seed": 0, "speed": {"p": 0.5}, "noise": {"p": 0.3, "snr_db": [5, 30]}, ...}

Each named augmentation is applied to a clip with probability `p` and draws its strength uniformly from its range
(the defaults below unless given). They run in this order:

- ``speed``: resampling by `factor`; tempo, pitch and formants (the vocal tract's resonances) move together.
- ``tempo``: time stretch by `factor`, pitch kept.
- ``pitch``: pitch shift by `semitones`, duration kept (the formants move with the pitch).
- ``formant``: the spectral envelope (the vocal tract's resonances) scaled in frequency by `factor`, pitch and
  duration kept: a longer (< 1) or shorter (> 1) vocal tract, the speaker difference `speed` and `pitch` cannot
  give apart from pitch.
- ``reverb``: a shoebox room (`pyroomacoustics`) with reverberation time `rt60_s`, source and microphone at random.
- ``noise``: coloured noise (white to brown) at `snr_db` below the speech.
- ``band_limit``: a telephone or cheap microphone: high-pass at `low_hz`, low-pass at `high_hz`.
- ``gain``: level change by `db` (the peak is then kept at or below 1: scaled, never clipped).

Digital silence stays exactly zero (Echo reads zeros as information) unless the clip got reverb or noise: a room
and a noisy recording fill the silence, and then the clip has no exact zeros, as a real recording would not.
Only the training split is augmented; the transcript is never touched. SpecAugment-style masks of the model's
inputs are a model option (`EchoConfig.apply_spec_augment`), not this.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import datasets
import librosa
import numpy as np
import scipy.fft
from transformers import TrainerCallback

# name -> {parameter: (default range, lowest allowed, highest allowed)}
AUGMENTATIONS: dict[str, dict[str, tuple[tuple[float, float], float, float]]] = {
    "speed": {"factor": ((0.9, 1.1), 0.5, 2.0)},
    "tempo": {"factor": ((0.9, 1.1), 0.5, 2.0)},
    "pitch": {"semitones": ((-2.0, 2.0), -12.0, 12.0)},
    # Adult vocal tracts differ by up to about 20% in length (formants scale inversely), children's more.
    "formant": {"factor": ((0.9, 1.1), 0.7, 1.4)},
    # Below 0.2 s the largest rooms drawn would need walls absorbing more than all sound (pyroomacoustics refuses).
    "reverb": {"rt60_s": ((0.2, 0.8), 0.2, 2.0)},
    "noise": {"snr_db": ((5.0, 30.0), -10.0, 60.0)},
    "band_limit": {"low_hz": ((100.0, 400.0), 20.0, 2000.0), "high_hz": ((3000.0, 5000.0), 1000.0, 7900.0)},
    "gain": {"db": ((-12.0, 6.0), -40.0, 20.0)},
}
# Runs of at least this many exact zeros (one 10 ms hop) are silence that the augmentations keep silent.
MIN_ZERO_RUN = 160
# Speed perturbation reads a clip as recorded at a rate on this grid (see `Augmenter.apply`).
SPEED_RATE_STEP_HZ = 10


@dataclass(frozen=True)
class EchoAugmentationConfig:
    """Which augmentations run on training clips, how often and how strongly; see the module docstring.

    Args:
        seed (`int`, defaults to 0): seed of the per-clip draws.
        augmentations (`dict`): name -> `{"p": probability, parameter: [low, high], ...}`; names and parameters
            are those of `AUGMENTATIONS`, and missing ranges take its defaults.
    """

    seed: int = 0
    augmentations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EchoAugmentationConfig:
        """Check a run config's `augmentation` section; an unknown name or a value out of range is a ValueError."""
        if not isinstance(values, dict):
            raise ValueError(f"`augmentation` must be an object of augmentations, got {values!r}.")
        values = dict(values)
        seed = values.pop("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"augmentation seed must be an integer, got {seed!r}.")
        checked = {}
        for name, settings in values.items():
            if name not in AUGMENTATIONS:
                raise ValueError(f"Unknown augmentation {name!r}; known: {sorted(AUGMENTATIONS)} (and `seed`).")
            checked[name] = check_settings(name, settings)
        return cls(seed=seed, augmentations=checked)

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, **self.augmentations}

    @property
    def enabled(self) -> bool:
        return any(settings["p"] > 0 for settings in self.augmentations.values())


def check_settings(name: str, settings: Any) -> dict[str, Any]:
    """One augmentation's settings with its default ranges filled in; a ValueError names what is wrong."""
    if not isinstance(settings, dict) or "p" not in settings:
        raise ValueError(f"augmentation {name!r} must be an object with a probability `p`, got {settings!r}.")
    parameters = AUGMENTATIONS[name]
    unknown = sorted(set(settings) - {"p", *parameters})
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} of augmentation {name!r}; known: ['p', *{sorted(parameters)}].")
    p = settings["p"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation {name!r}: p must be a probability in [0, 1], got {p!r}.")
    checked: dict[str, Any] = {"p": float(p)}
    for parameter, (default, lowest, highest) in parameters.items():
        value = settings.get(parameter, default)
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not lowest <= value[0] <= value[1] <= highest
        ):
            raise ValueError(
                f"augmentation {name!r}: {parameter} must be [low, high] with {lowest} <= low <= high <= {highest}, "
                f"got {value!r}."
            )
        checked[parameter] = [float(value[0]), float(value[1])]
    if name == "band_limit" and checked["low_hz"][1] >= checked["high_hz"][0]:
        raise ValueError(f"augmentation 'band_limit': low_hz {checked['low_hz']} must lie below high_hz.")
    return checked


@contextlib.contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """audiomentations draws from `random` and `numpy.random`'s global state: seed them for one call, then put back
    what was there, so the draws depend on the clip's seed alone and nothing else sees them."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def zero_runs(audio: np.ndarray, min_run: int = MIN_ZERO_RUN) -> np.ndarray:
    """Boolean mask of the samples inside runs of at least `min_run` exact zeros."""
    zero = np.concatenate([[False], audio == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    mask = np.zeros(len(audio), dtype=bool)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= min_run:
            mask[start:end] = True
    return mask


def stretch_mask(mask: np.ndarray, length: int) -> np.ndarray:
    """`mask` resampled (nearest sample) to `length` samples, for audio that was sped up or slowed down."""
    if length == len(mask):
        return mask
    return mask[np.minimum((np.arange(length) * len(mask)) // max(length, 1), len(mask) - 1)]


class Augmenter:
    """Applies an `EchoAugmentationConfig` to clips: `augmenter(audio, sampling_rate, rng)` -> augmented float32."""

    def __init__(self, config: EchoAugmentationConfig):
        import audiomentations

        self.config = config
        settings = config.augmentations
        self.transforms: dict[str, Any] = {}
        # Built once with p=1: whether one runs on a clip is drawn here, from the clip's own generator.
        if "tempo" in settings:
            low, high = settings["tempo"]["factor"]
            self.transforms["tempo"] = audiomentations.TimeStretch(low, high, leave_length_unchanged=False, p=1.0)
        if "pitch" in settings:
            low, high = settings["pitch"]["semitones"]
            self.transforms["pitch"] = audiomentations.PitchShift(low, high, p=1.0)
        if "noise" in settings:
            low, high = settings["noise"]["snr_db"]
            # Spectral decay from -6 dB/octave (brown) through -3 (pink) to 0 (white); bluer noise is not drawn.
            self.transforms["noise"] = audiomentations.AddColorNoise(
                low, high, min_f_decay=-6.0, max_f_decay=0.0, p=1.0
            )
        if "band_limit" in settings:
            band = settings["band_limit"]
            self.transforms["band_limit"] = audiomentations.Compose(
                [
                    audiomentations.HighPassFilter(*band["low_hz"], p=1.0),
                    audiomentations.LowPassFilter(*band["high_hz"], p=1.0),
                ]
            )

    def __call__(self, audio: np.ndarray, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        settings = self.config.augmentations
        chosen = [name for name in AUGMENTATIONS if name in settings and rng.random() < settings[name]["p"]]
        audio = np.asarray(audio, dtype=np.float32)
        if not chosen or not audio.any():
            return audio
        silence = zero_runs(audio)
        for name in chosen:
            with seeded_globals(int(rng.integers(2**63))):
                audio = self.apply(name, audio, sampling_rate, rng)
            silence = stretch_mask(silence, len(audio))
        if not {"reverb", "noise"} & set(chosen):
            audio[silence] = 0.0  # filters and phase vocoders smear a little signal into the silence
        peak = float(np.abs(audio).max())
        return (audio / peak if peak > 1.0 else audio).astype(np.float32)

    def apply(self, name: str, audio: np.ndarray, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        settings = self.config.augmentations[name]
        if name == "speed":
            # Read as if recorded at rate * factor: played `factor` times faster and higher. The rate is rounded to
            # 10 Hz: soxr plans some arbitrary ratios for seconds (about 1 in 100 draws), a 10 Hz grid in
            # under a millisecond, and 10 Hz in 16 kHz is a factor step of 0.000625.
            factor = rng.uniform(*settings["factor"])
            rate = max(round(sampling_rate * factor / SPEED_RATE_STEP_HZ), 1) * SPEED_RATE_STEP_HZ
            return librosa.resample(audio, orig_sr=rate, target_sr=sampling_rate, res_type="soxr_hq")
        if name == "formant":
            return shift_formants(audio, sampling_rate, rng.uniform(*settings["factor"]))
        if name == "reverb":
            return reverberate(audio, sampling_rate, rng.uniform(*settings["rt60_s"]), rng)
        if name == "gain":
            return audio * np.float32(10 ** (rng.uniform(*settings["db"]) / 20))
        return self.transforms[name](samples=audio, sample_rate=sampling_rate)


def shift_formants(
    audio: np.ndarray,
    sampling_rate: int,
    factor: float,
    window_s: float = 0.032,
    lifter_s: float = 0.0025,
    envelope_iterations: int = 10,
) -> np.ndarray:
    """`audio` with its spectral envelope scaled in frequency by `factor` (a formant at f Hz moves to f * factor),
    its harmonics (the pitch) and timing kept; same length.

    Each STFT frame's log-magnitude is split by its real cepstrum into a smooth envelope (quefrencies below
    `lifter_s`, shorter than the pitch period of voices up to 400 Hz) and the harmonic fine structure; the frame is
    then multiplied by the warped envelope over the original one, phases untouched. A plain cepstral envelope runs
    between the harmonics and flattens narrow formants, so it is raised onto the harmonic peaks a few times (the
    "true envelope" iteration). pyworld's WORLD vocoder would do this by analysis and resynthesis, but its latest
    release (0.3.5) ships no wheel and imports `pkg_resources`, which setuptools 81 removed.
    """
    n_fft = 2 ** int(np.ceil(np.log2(window_s * sampling_rate)))
    hop = n_fft // 4
    keep = max(int(lifter_s * sampling_rate), 1)

    def smooth(log_magnitude: np.ndarray) -> np.ndarray:
        cepstrum = scipy.fft.irfft(log_magnitude, n=n_fft, axis=-1)
        cepstrum[:, keep : n_fft - keep + 1] = 0.0  # the cepstrum is symmetric: keep both ends
        return scipy.fft.rfft(cepstrum, axis=-1).real

    spectrum = librosa.stft(audio.astype(np.float32), n_fft=n_fft, hop_length=hop)
    # Frames x bins, contiguous along frequency: the cepstra below are per frame.
    log_magnitude = np.ascontiguousarray(np.log(np.abs(spectrum) + 1e-8).T)
    envelope = smooth(log_magnitude)
    for _ in range(envelope_iterations):
        envelope = smooth(np.maximum(log_magnitude, envelope))
    # The warped envelope at bin k is the original one at bin k / factor (linear interpolation; held at the top).
    bins = envelope.shape[1]
    source = np.minimum(np.arange(bins) / factor, bins - 1)
    below = np.minimum(source.astype(int), bins - 2)
    weight = source - below
    warped = envelope[:, below] * (1 - weight) + envelope[:, below + 1] * weight
    spectrum *= np.exp(warped - envelope).T.astype(np.float32)
    return librosa.istft(spectrum, hop_length=hop, n_fft=n_fft, length=len(audio)).astype(np.float32)


def reverberate(audio: np.ndarray, sampling_rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """`audio` in a random shoebox room with reverberation time `rt60_s`; same length, aligned to the direct sound,
    same peak as before."""
    import pyroomacoustics
    from scipy.signal import fftconvolve

    room_size = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    absorption, max_order = pyroomacoustics.inverse_sabine(rt60_s, room_size)
    room = pyroomacoustics.ShoeBox(
        room_size, fs=sampling_rate, materials=pyroomacoustics.Material(absorption), max_order=min(max_order, 12)
    )
    room.add_source(rng.uniform(0.5, room_size - 0.5))
    room.add_microphone(rng.uniform(0.5, room_size - 0.5))
    room.compute_rir()
    response = np.asarray(room.rir[0][0], dtype=np.float64)
    direct = int(np.argmax(np.abs(response)))  # start at the direct sound, so words keep their times
    wet = fftconvolve(audio.astype(np.float64), response[direct:])[: len(audio)]
    peak = float(np.abs(wet).max())
    return (wet * (np.abs(audio).max() / peak) if peak > 0 else wet).astype(np.float32)


INDEX = "augmentation_index"


class ClipAugmenter:
    """Augments training clip `i` in epoch `e` from the seed `(seed, e, i)` alone, so a run, a resumed run or one
    with dataloader workers augments alike. The collator calls it for examples that carry an `augmentation_index`
    (only the training split, through `index_for_augmentation`)."""

    def __init__(self, config: EchoAugmentationConfig, sampling_rate: int):
        self.augmenter, self.sampling_rate, self.epoch = Augmenter(config), sampling_rate, 0

    def __call__(self, audio: np.ndarray, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.augmenter.config.seed, self.epoch, index])
        return self.augmenter(audio, self.sampling_rate, rng)


class AugmentationEpochCallback(TrainerCallback):
    """Tells the augmenter which epoch the Trainer is in: each epoch draws new augmentations."""

    def __init__(self, augmenter: ClipAugmenter):
        self.augmenter = augmenter

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.augmenter.epoch = int(state.epoch or 0)


def index_for_augmentation(dataset: datasets.Dataset) -> datasets.Dataset:
    """`dataset` with an `augmentation_index` column numbering its clips: the ones the collator augments."""
    return dataset.add_column(INDEX, list(range(len(dataset))))


__all__ = [
    "AUGMENTATIONS",
    "AugmentationEpochCallback",
    "Augmenter",
    "ClipAugmenter",
    "EchoAugmentationConfig",
    "index_for_augmentation",
    "shift_formants",
]
