"""Joint CTC/attention decoding against attention alone: WER/CER and runaway outputs, greedy and beam search.

    python scripts/joint_decoding.py runs/demo data/echo-corpus --clips 200 --weights 0 0.3 0.5

Every row decodes the same clips (the corpus's in-voice test split and its voice-held-out split, and sentences the
corpus does not hold spoken by held-out espeak-ng variants) with the same model; only the search and `ctc_weight`
change. "At the limit" counts
outputs that end without an end of text, at the model's most tokens: the runaway loops joint decoding should end.
Writes results/joint_decoding/joint_decoding.{json,md}.
"""

import argparse
import time
from pathlib import Path

from quality_data import corpus_clips, held_out_clips, load_asr, save_report, transcribe, word_error_rates


def search_name(num_beams: int) -> str:
    return "greedy" if num_beams == 1 else f"beam {num_beams}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--clips", type=int, default=200, help="clips per set")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.3, 0.5])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("results/joint_decoding"))
    args = parser.parse_args()
    model, processor, _ = load_asr(args.model)
    sets = {
        "test (in-voice)": corpus_clips(args.corpus, "test", args.clips),
        "held_out_voices (voice-held-out)": corpus_clips(args.corpus, "held_out_voices", args.clips),
        "held-out sentences and espeak variants": held_out_clips(args.clips),
    }
    rows = []
    for name, (audio, references) in sets.items():
        for beams in args.beams:
            for weight in args.weights:
                began = time.perf_counter()
                options = {"ctc_weight": weight} if weight else {}
                hypotheses, at_limit = transcribe(model, processor, audio, args.batch_size, num_beams=beams, **options)
                seconds = time.perf_counter() - began
                scores = word_error_rates(hypotheses, references)
                row = {"set": name, "num_beams": beams, "ctc_weight": weight, **scores, "at_limit": at_limit}
                rows.append({**row, "clips": len(audio), "seconds": round(seconds, 1)})
                print(rows[-1])
    lines = [
        f"Joint CTC/attention decoding of `{args.model}` (`python scripts/joint_decoding.py {args.model} "
        f"{args.corpus} --clips {args.clips}`): the same clips, model and threads in every row; one run.",
        "",
        "| set | search | ctc_weight | WER | CER | at the limit | seconds |",
        "|---|---|---:|---:|---:|---:|---:|",
        *(
            f"| {row['set']} | {search_name(row['num_beams'])} | "
            f"{row['ctc_weight']:g} | {row['wer']:.3f} | {row['cer']:.3f} | {row['at_limit']}/{row['clips']} | "
            f"{row['seconds']} |"
            for row in rows
        ),
        "",
    ]
    save_report(args.out, "joint_decoding", {"model": args.model, "rows": rows}, lines)


if __name__ == "__main__":
    main()
