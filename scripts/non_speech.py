"""Non-speech in, nothing out: 100 generated clips of noise, tones, chords, clicks, hum and dithered silence, and
speech under background noise, transcribed with and without `no_speech_threshold` (the CTC head's blank posterior)
and `vad_threshold` (voice activity detection, as the ASR pipeline applies it).

    python scripts/non_speech.py runs/demo data/echo-corpus --thresholds 0.7 --vad-thresholds 0.4

For each pair of settings (each also off): the share of non-speech clips with an empty transcript, the share that
reach the model's most tokens without ending, and WER of the in-voice test split clean and with white or pink noise
at 20 and 10 dB SNR, to show the settings do not drop speech. Writes results/non_speech/non_speech.{json,md}.
"""

import argparse
import itertools
from pathlib import Path

import numpy as np
from quality_data import corpus_clips, load_asr, save_report, transcribe, word_error_rates

from echo_hf.voice_activity_echo import MIN_SPEECH_S

RATE = 16000


def coloured_noise(rng: np.random.Generator, samples: int, exponent: float) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.normal(size=samples))
    frequencies = np.fft.rfftfreq(samples)
    spectrum[1:] /= frequencies[1:] ** (exponent / 2)
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, samples)
    return noise / np.sqrt(np.mean(noise**2))


def at_level(signal: np.ndarray, dbfs: float) -> np.ndarray:
    """`signal` scaled to an RMS of `dbfs` dB below full scale."""
    return (signal / np.sqrt(np.mean(signal**2) + 1e-20) * 10 ** (dbfs / 20)).astype(np.float32)


def non_speech_clips(count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` clips of 1-6 s, cycling through the kinds, with drawn levels and frequencies; and each one's kind."""
    rng = np.random.default_rng(seed)
    kinds = ["white noise", "pink noise", "brown room tone", "tone", "chord", "clicks", "hum", "dithered silence"]
    clips, names = [], []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        samples = int(rng.uniform(1, 6) * RATE)
        t = np.arange(samples) / RATE
        level = rng.uniform(-50, -15)
        if kind in ("white noise", "pink noise", "brown room tone"):
            clip = coloured_noise(rng, samples, kinds.index(kind))
            level = rng.uniform(-60, -45) if kind == "brown room tone" else level
        elif kind == "tone":
            clip = np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
        elif kind == "chord":  # a major triad on a drawn root, notes starting one after another, with decay
            root = rng.uniform(110, 440)
            clip = sum(
                np.sin(2 * np.pi * root * ratio * t) * np.exp(-np.clip(t - 0.3 * k, 0, None)) * (t >= 0.3 * k)
                for k, ratio in enumerate((1, 5 / 4, 3 / 2, 2))
            )
        elif kind == "clicks":
            clip = np.zeros(samples)
            clip[rng.choice(samples, size=int(rng.uniform(2, 12) * samples / RATE), replace=False)] = 1.0
            level = rng.uniform(-40, -25)
        elif kind == "hum":
            mains = rng.choice([50.0, 60.0])
            clip = sum(np.sin(2 * np.pi * mains * h * t) / h for h in (1, 2, 3, 4, 5))
        else:  # 16-bit silence with triangular dither of +-1 LSB
            clip = (rng.uniform(-1, 1, samples) + rng.uniform(-1, 1, samples)) / 32768
            clips.append(clip.astype(np.float32))
            names.append(kind)
            continue
        clips.append(at_level(np.asarray(clip, dtype=np.float64), level))
        names.append(kind)
    return clips, names


def setting(value: float | None) -> str:
    return "off" if value is None else f"{value:g}"


def with_noise(audio: list[np.ndarray], snr_db: float, exponent: float, seed: int) -> list[np.ndarray]:
    """Each clip plus noise of the given colour at `snr_db` below the clip's own RMS."""
    rng = np.random.default_rng(seed)
    noisy = []
    for clip in audio:
        noise = coloured_noise(rng, clip.shape[0], exponent)
        rms = np.sqrt(np.mean(clip.astype(np.float64) ** 2))
        noisy.append((clip + noise * rms * 10 ** (-snr_db / 20)).astype(np.float32))
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--clips", type=int, default=100, help="non-speech clips")
    parser.add_argument("--speech-clips", type=int, default=100, help="test-split clips, clean and noisy")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.7], help="no_speech_threshold values")
    parser.add_argument("--vad-thresholds", type=float, nargs="+", default=[0.4], help="vad_threshold values")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/non_speech"))
    args = parser.parse_args()
    model, processor, _ = load_asr(args.model)
    noise, kinds = non_speech_clips(args.clips, args.seed)
    speech, references = corpus_clips(args.corpus, "test", args.speech_clips)
    conditions = {"clean": speech}
    for snr in (20, 10):
        for exponent, colour in ((0, "white"), (1, "pink")):
            conditions[f"{colour} {snr} dB"] = with_noise(speech, snr, exponent, args.seed)
    rows = []
    for vad_threshold, threshold in itertools.product([None, *args.vad_thresholds], [None, *args.thresholds]):
        options = {} if threshold is None else {"no_speech_threshold": threshold}
        if vad_threshold is not None:
            options["vad"] = (vad_threshold, MIN_SPEECH_S)
        texts, at_limit = transcribe(model, processor, noise, args.batch_size, **options)
        empty = [not text.strip() for text in texts]
        by_kind = {kind: float(np.mean([e for e, k in zip(empty, kinds, strict=True) if k == kind])) for kind in
                   dict.fromkeys(kinds)}  # fmt: skip
        row = {"threshold": threshold, "vad_threshold": vad_threshold, "empty": float(np.mean(empty)),
               "at_limit": at_limit / len(noise), "empty_by_kind": by_kind}  # fmt: skip
        for name, audio in conditions.items():
            hypotheses, _ = transcribe(model, processor, audio, args.batch_size, **options)
            row[f"wer {name}"] = word_error_rates(hypotheses, references)["wer"]
        rows.append(row)
        print(row)
    report = {"model": args.model, "clips": len(noise), "speech_clips": len(speech), "rows": rows}
    names = list(conditions)
    lines = [
        f"Non-speech and noisy speech through `{args.model}` (`python scripts/non_speech.py {args.model} "
        f"{args.corpus}`): {len(noise)} non-speech clips; WER on {len(speech)} in-voice test clips. One run. "
        f"`vad_threshold` counts a clip as speech from {MIN_SPEECH_S} s of it.",
        "",
        "| vad_threshold | no_speech_threshold | empty | at the limit | "
        + " | ".join(f"WER {name}" for name in names)
        + " |",
        "|---|---|---:|---:|" + "---:|" * len(names),
        *(
            f"| {setting(row['vad_threshold'])} | {setting(row['threshold'])} | {row['empty']:.0%} | "
            f"{row['at_limit']:.0%} | " + " | ".join(f"{row[f'wer {name}']:.3f}" for name in names) + " |"
            for row in rows
        ),
        "",
        "Empty transcripts by kind of sound:",
        "",
        "| vad_threshold | no_speech_threshold | " + " | ".join(dict.fromkeys(kinds)) + " |",
        "|---|---|" + "---:|" * len(set(kinds)),
        *(
            f"| {setting(row['vad_threshold'])} | {setting(row['threshold'])} | "
            + " | ".join(f"{share:.0%}" for share in row["empty_by_kind"].values())
            + " |"
            for row in rows
        ),
        "",
    ]
    save_report(args.out, "non_speech", report, lines)


if __name__ == "__main__":
    main()
