"""Long recordings: test-split clips joined into one recording, transcribed whole, against each clip alone.

    python scripts/long_audio.py runs/demo data/echo-corpus --clips 100
    python scripts/long_audio.py runs/demo data/echo-corpus --split validation --min-pause-s 0.3 0.4 0.5 --paused-only

Two recordings of the same clips in the same order: one with natural pauses (0.4-1.2 s of quiet room tone between
clips), cut by `segment_at_pauses=True`; one with no pause longer than 0.1 s, through `chunk_length_s` (each length
with chunks joined by text and by time, `chunk_merge`) and, for comparison, `segment_at_pauses`, which then has to
cut inside speech (pieces up to the model's most, or up to `--max-segment-s`). WER is over the whole recording
against the clips' transcripts joined; the baseline is the same model transcribing each clip alone. A segment's times
are checked against the clip it overlaps most: that clip's sound, from where it was placed, trimmed of its leading
and trailing quiet (`librosa.effects.trim`, 40 dB). `--min-pause-s` gives a row per value of `segment_at_pauses`'s
shortest pause (tune it on the validation split).
Writes OUT/long_audio.{json,md}.
"""

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np
from non_speech import at_level, coloured_noise
from quality_data import corpus_clips, load_asr, save_report, transcribe, word_error_rates

from echo_hf.segmentation_echo import MIN_PAUSE_S

RATE = 16000


def join(clips: list[np.ndarray], gaps_s: tuple[float, float], rng: np.random.Generator):
    """The clips, trimmed, one after another with gaps of drawn length filled with room tone at -60 dBFS; and each
    clip's sound as (start, end) seconds in the recording."""
    pieces, spans, position = [], [], 0
    for clip in clips:
        sound, _ = librosa.effects.trim(clip, top_db=40)
        gap = round(rng.uniform(*gaps_s) * RATE)
        pieces.append(at_level(coloured_noise(rng, gap, 2.0), -60))
        position += gap
        pieces.append(sound)
        spans.append((position / RATE, (position + sound.shape[0]) / RATE))
        position += sound.shape[0]
    pieces.append(at_level(coloured_noise(rng, RATE // 2, 2.0), -60))
    return np.concatenate(pieces).astype(np.float32), spans


def boundary_errors(spans: list[tuple[float, float]], chunks: list[dict]) -> list[tuple[float, float]]:
    """(start error, end error) seconds of each true span against the segment overlapping it most."""
    errors = []
    for start, end in spans:
        overlaps = [min(end, c["timestamp"][1]) - max(start, c["timestamp"][0]) for c in chunks]
        best = chunks[int(np.argmax(overlaps))]["timestamp"]
        errors.append((best[0] - start, best[1] - end))
    return errors


def nearest_edge_errors(spans: list[tuple[float, float]], chunks: list[dict]) -> list[tuple[float, float]]:
    """(start error, end error) seconds of each true span against the nearest segment start and segment end: whether
    a cut falls at each clip boundary, wherever else the recording was cut."""
    starts = np.array([c["timestamp"][0] for c in chunks])
    ends = np.array([c["timestamp"][1] for c in chunks])
    return [(float(np.min(np.abs(starts - start))), float(np.min(np.abs(ends - end)))) for start, end in spans]


def length_text(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--split", default="test")
    parser.add_argument("--min-pause-s", type=float, nargs="+", default=[MIN_PAUSE_S])
    parser.add_argument("--paused-only", action="store_true", help="skip the recording without pauses")
    parser.add_argument(
        "--max-segment-s",
        type=float,
        nargs="+",
        default=[2.5],
        help="rows of segment_at_pauses with this max_segment_s on the recording without pauses",
    )
    parser.add_argument("--chunk-length-s", type=float, nargs="+", default=[4.0, 8.0, 16.0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/long_audio"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    model, processor, asr = load_asr(args.model)
    clips, references = corpus_clips(args.corpus, args.split, args.clips)
    alone, _ = transcribe(model, processor, clips, args.batch_size)
    baseline = word_error_rates(alone, references)
    reference = " ".join(references)
    rows = [{"recording": "each clip alone", "method": "", "seconds": None, **baseline}]
    paused, spans = join(clips, (0.4, 1.2), rng)
    for min_pause_s in args.min_pause_s:
        result = asr(paused, segment_at_pauses=True, min_pause_s=min_pause_s, return_timestamps=True,
                     batch_size=args.batch_size)  # fmt: skip
        errors = np.abs(np.array(boundary_errors(spans, result["chunks"])))
        nearest = np.array(nearest_edge_errors(spans, result["chunks"]))
        timing = {
            "segments": len(result["chunks"]),
            "median_boundary_error_s": round(float(np.median(errors)), 3),
            "within_0.2s": round(float(np.mean(errors <= 0.2)), 3),
            "nearest_edge_within_0.2s": round(float(np.mean(nearest <= 0.2)), 3),
            "boundary_errors_s": errors.tolist(),
        }
        rows.append({"recording": "natural pauses", "method": f"segment_at_pauses, min_pause_s={min_pause_s:g}",
                     "seconds": round(len(paused) / RATE), **word_error_rates([result["text"]], [reference]),
                     **timing})  # fmt: skip
    tight, _ = join(clips, (0.0, 0.1), rng)
    methods = {}
    if not args.paused_only:
        # Chunks joined both ways (`chunk_merge`), with the decoder alone and with joint decoding, which stops a
        # chunk's decoder from running on past the audio.
        for joint in ({}, {"ctc_weight": 0.5}):
            for merge in ("text", "time"):
                for length in args.chunk_length_s:
                    settings = [f"chunk_length_s={length:g}", f"chunk_merge={merge}"]
                    settings += [f"{name}={value:g}" for name, value in joint.items()]
                    methods[", ".join(settings)] = {
                        "chunk_length_s": length,
                        "chunk_merge": merge,
                        "generate_kwargs": joint,
                    }
        methods["segment_at_pauses"] = {"segment_at_pauses": True}
        for seconds in args.max_segment_s:
            methods[f"segment_at_pauses, max_segment_s={seconds:g}"] = {"segment_at_pauses": True,
                                                                        "max_segment_s": seconds}  # fmt: skip
    for name, options in methods.items():
        text = asr(tight, batch_size=args.batch_size, **options)["text"]
        rows.append({"recording": "pauses <= 0.1 s", "method": name, "seconds": round(len(tight) / RATE),
                     **word_error_rates([text], [reference])})  # fmt: skip
    for row in rows:
        row["wer_minus_alone"] = round(row["wer"] - baseline["wer"], 4)
        print({key: value for key, value in row.items() if key != "boundary_errors_s"})
    report = {"model": args.model, "split": args.split, "clips": len(clips), "rows": rows}
    command = " ".join(sys.argv[1:])
    lines = [
        f"{len(clips)} in-voice {args.split}-split clips of `{args.corpus}` as one recording, through `{args.model}` "
        f"(`python scripts/long_audio.py {command}`). One run.",
        "",
        "| recording | how | length | WER | CER | WER - alone |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {row['recording']} | {row['method'] or '(batched generate)'} | "
            f"{length_text(row['seconds'])} | {row['wer']:.3f} | {row['cer']:.3f} | "
            f"{row['wer_minus_alone']:+.3f} |"
            for row in rows
        ),
        "",
        *(
            f"Segments at pauses, min_pause_s={min_pause_s:g}: {row['segments']} for {len(clips)} clips; clip "
            f"boundaries (start and end) within 0.2 s of the segment overlapping the clip most: "
            f"{row['within_0.2s']:.1%} (median error {row['median_boundary_error_s']} s); within 0.2 s of the nearest "
            f"segment start or end (a cut at every clip boundary, wherever else the recording is cut): "
            f"{row['nearest_edge_within_0.2s']:.1%}."
            for min_pause_s, row in zip(args.min_pause_s, rows[1:], strict=False)
        ),
        "",
    ]
    save_report(args.out, "long_audio", report, lines)


if __name__ == "__main__":
    main()
