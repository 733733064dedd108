"""How close Echo's word timestamps are, on speech with exactly known word boundaries from held-out voices.

    python scripts/word_timestamps.py runs/demo [--utterances 60] [--seed 0] [--alignment ctc|attention]
        [--no-snap] [--ctc-weight 0.3]

Each utterance is a held-out sentence (outside the bundled corpus's splits) whose words espeak-ng speaks one at a
time with one of the 13 `en-us` variants the corpus never uses (`echo_hf.corpus.held_out`). Each word is cut to its
sound (from its first to its last sample within 40 dB of its peak) and the words are joined with random 0-300 ms
gaps of silence, so every word's start and end is known to the sample. `pipeline(..., return_timestamps="word")`
transcribes the utterances; recognised words that match a reference word (after text normalisation, in order:
difflib's matching blocks) are scored by the error of their start and end. `--alignment attention` drops the
model's CTC head first, so the times come from DTW over the cross-attention of `alignment_heads`, as for a model
trained without one. `--ctc-weight` decodes with joint CTC/attention scoring, which ends the decoder's loops (whose
extra words would be squeezed into the audio). Writes OUT/word_timestamps[_attention][_raw][_ctcW].json, .md and a
PNG histogram of the errors.
"""

import argparse
import difflib
import time
from pathlib import Path

import librosa
import numpy as np
from quality_data import load_asr, save_report
from tqdm.auto import tqdm

from echo_hf.corpus.held_out import HELD_OUT_VARIANTS, default_corpus_params, held_out_sentences
from echo_hf.corpus.speech import SAMPLE_RATE, espeak
from echo_hf.training.text_normalization import normalize_text


def utterance(words: list[str], voice: str, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The words spoken one by one and joined with 0-300 ms of silence; each word's (start, end) in seconds."""
    pieces, bounds, cursor = [np.zeros(round(0.2 * SAMPLE_RATE), np.float32)], [], round(0.2 * SAMPLE_RATE)
    for index, word in enumerate(words):
        audio, rate = espeak(word, voice, rng)
        audio = librosa.resample(np.asarray(audio, np.float32), orig_sr=rate, target_sr=SAMPLE_RATE)
        # Cut to the word's sound, to the sample: its first and last samples within 40 dB of its peak. (Trimming by
        # librosa's 2048-sample frames would leave up to ~70 ms of quiet at each end inside the "true" word.)
        sound = np.flatnonzero(np.abs(audio) >= np.abs(audio).max() * 10 ** (-40 / 20))
        audio = audio[sound[0] : sound[-1] + 1].astype(np.float32)
        audio *= 0.5 / max(float(np.abs(audio).max()), 1e-6)
        bounds.append((cursor / SAMPLE_RATE, (cursor + len(audio)) / SAMPLE_RATE))
        gap = np.zeros(round(rng.uniform(0.0, 0.3) * SAMPLE_RATE) if index < len(words) - 1 else 0, np.float32)
        pieces += [audio, gap]
        cursor += len(audio) + len(gap)
    pieces.append(np.zeros(round(0.2 * SAMPLE_RATE), np.float32))
    return np.concatenate(pieces), bounds


def matched_errors(reference: list[str], bounds, chunks: list[dict]) -> list[tuple[float, float]]:
    """(start error, end error) in seconds of every recognised word that matches its reference word."""
    recognised = [normalize_text(chunk["text"]) for chunk in chunks]
    matcher = difflib.SequenceMatcher(a=[normalize_text(word) for word in reference], b=recognised, autojunk=False)
    errors = []
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            (start, end), (got_start, got_end) = bounds[block.a + offset], chunks[block.b + offset]["timestamp"]
            if got_start is not None:
                errors.append((got_start - start, got_end - end))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a trained Echo folder with a CTC head (e.g. runs/demo)")
    parser.add_argument("--utterances", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--alignment", choices=("ctc", "attention"), default="ctc")
    parser.add_argument("--no-snap", action="store_true", help="keep the alignment's own edges (snap_words_to_sound)")
    parser.add_argument("--ctc-weight", type=float, default=None, help="joint CTC/attention decoding (CTC alignment)")
    parser.add_argument("--out", type=Path, default=Path("results/word_timestamps"))
    args = parser.parse_args()
    if args.ctc_weight and args.alignment == "attention":
        parser.error("--alignment attention drops the CTC head, which --ctc-weight decodes with: pass one of them.")
    name = "word_timestamps" + ("" if args.alignment == "ctc" else "_attention") + ("_raw" if args.no_snap else "")
    name += f"_ctc{args.ctc_weight:g}" if args.ctc_weight else ""
    rng = np.random.default_rng(args.seed)
    sentences = held_out_sentences({"word_timestamps": args.utterances}, default_corpus_params())["word_timestamps"]
    audio, bounds, references = [], [], []
    for sentence in tqdm(sentences, desc="synthesising", unit="utterance"):
        words = sentence.spoken.split()
        clip, clip_bounds = utterance(words, f"en-us+{HELD_OUT_VARIANTS[rng.integers(len(HELD_OUT_VARIANTS))]}", rng)
        audio.append(clip)
        bounds.append(clip_bounds)
        references.append(words)

    model, _, asr = load_asr(args.model)
    if args.alignment == "attention":
        model.ctc_head = None  # the pipeline then aligns with cross-attention
    start = time.perf_counter()
    decoding = {"generate_kwargs": {"ctc_weight": args.ctc_weight}} if args.ctc_weight else {}
    outputs = asr(audio, batch_size=args.batch_size, return_timestamps="word", snap_words_to_sound=not args.no_snap,
                  **decoding)  # fmt: skip
    seconds = time.perf_counter() - start
    errors = [
        e
        for out, ref, b in zip(outputs, references, bounds, strict=True)
        for e in matched_errors(ref, b, out["chunks"])
    ]
    starts, ends = (np.abs(np.array([e[i] for e in errors])) for i in (0, 1))
    reference_words = sum(len(words) for words in references)
    report = {
        "model": args.model,
        "utterances": len(audio),
        "reference_words": reference_words,
        "matched_words": len(errors),
        "median_start_error_ms": round(float(np.median(starts)) * 1000, 1),
        "median_end_error_ms": round(float(np.median(ends)) * 1000, 1),
        "within_100ms_start": round(float(np.mean(starts <= 0.1)), 3),
        "within_100ms_end": round(float(np.mean(ends <= 0.1)), 3),
        "mean_signed_start_error_ms": round(float(np.mean([e[0] for e in errors])) * 1000, 1),
        "mean_signed_end_error_ms": round(float(np.mean([e[1] for e in errors])) * 1000, 1),
        "seconds_per_position": model.config.samples_per_position / SAMPLE_RATE,
        "transcribe_seconds": round(seconds, 1),
        "seed": args.seed,
        "alignment": args.alignment,
        "snapped_to_sound": not args.no_snap,
        "ctc_weight": args.ctc_weight,
        "errors_s": [[round(start, 4), round(end, 4)] for start, end in errors],  # predicted - true, per word
    }
    method = "CTC forced alignment" if args.alignment == "ctc" else "DTW over cross-attention, CTC head dropped"
    method += ", edges kept as aligned" if args.no_snap else ", edges snapped to the sound"
    lines = [
        f"Word timestamps of `{args.model}` ({method}) on {len(audio)} utterances of held-out voices, "
        f"words spoken one at a time and joined with 0-300 ms gaps (`python scripts/word_timestamps.py {args.model} "
        f"--utterances {args.utterances} --seed {args.seed} --alignment {args.alignment}"
        f"{' --no-snap' if args.no_snap else ''}{f' --ctc-weight {args.ctc_weight:g}' if args.ctc_weight else ''}`). "
        f"Scored: the {len(errors)} of {reference_words} "
        "reference words that the transcript got right.",
        "",
        "| | start | end |",
        "|---|---:|---:|",
        f"| median error | {report['median_start_error_ms']} ms | {report['median_end_error_ms']} ms |",
        f"| within 100 ms | {report['within_100ms_start']:.1%} | {report['within_100ms_end']:.1%} |",
        f"| mean signed error | {report['mean_signed_start_error_ms']} ms | {report['mean_signed_end_error_ms']} ms |",
        "",
        f"Encoder positions are {report['seconds_per_position'] * 1000:.0f} ms apart: the resolution of the times.",
        "",
    ]
    save_report(args.out, name, report, lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    bins = np.arange(-0.4, 0.42, 0.02)
    axis.hist([np.clip([e[0] for e in errors], -0.4, 0.4), np.clip([e[1] for e in errors], -0.4, 0.4)], bins=bins,
              label=["start", "end"])  # fmt: skip
    axis.set_xlabel("predicted - true (s), clipped to +-0.4")
    axis.set_ylabel("words")
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out / f"{name}.png", dpi=120)


if __name__ == "__main__":
    main()
