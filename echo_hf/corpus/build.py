"""Build the bundled synthetic English speech corpus as a `datasets.DatasetDict` and an audiofolder.

    python -m echo_hf.corpus.build --out data/echo-corpus [--train 8000 --validation 200 --test 200]
        [--held-out-voices 200] [--max-seconds 8] [--seed 0] [--workers 2] [--max-vocab 2000]
        [--min-words 3 --max-words 12] [--held-out-variants Andy,Annie,...]

Layout of ``--out``:

    dataset_dict.json, train/, validation/, test/,  `DatasetDict.save_to_disk` (audio stored as FLAC bytes)
        held_out_voices/
    audiofolder/<split>/*.flac                      + metadata.jsonl, for `load_speech_dataset` (`load_audiofolder`)
    corpus_params.json                              the parameters; same parameters -> the build is reused
    corpus_summary.json                             counts per split, voice family and source; hours; time

Sentences come from `corpus_text`, audio from `corpus_speech`; example ``i`` of split ``s`` is synthesised
from the seed ``(seed, s, i)`` alone, so a build is reproducible whatever the number of workers.

`test` is spoken by the training voices (in-voice); `held_out_voices` by voices that no other split uses
(`speech.HELD_OUT_ESPEAK_VARIANTS` with every accent, and `speech.HELD_OUT_FLITE_VOICES`). No two splits share a
sentence. The voice-held-out WER is the one that says whether a model learned speech rather than its voices.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import multiprocessing
import shutil
import time
from pathlib import Path

import datasets
import numpy as np
import soundfile as sf
from tqdm import tqdm

from .speech import ESPEAK_VARIANTS, HELD_OUT_ESPEAK_VARIANTS, SAMPLE_RATE, synthesize
from .text import Sentence, collect_sentences, make_splits

HELD_OUT_SPLIT = "held_out_voices"
SPLITS = ("train", "validation", "test", HELD_OUT_SPLIT)
# Bump when a change to the text or speech pipeline should invalidate corpora built before it.
CORPUS_VERSION = 2
PARAMS_FILE = "corpus_params.json"
SUMMARY_FILE = "corpus_summary.json"


def render(task: tuple[int, int, int, Sentence, tuple[str, ...] | None]) -> dict:
    """Synthesise one sentence (runs in a worker process) and encode it as 16-bit FLAC; `held_out_variants` None
    speaks with the training voices, else with the held-out ones."""
    seed, split_index, index, sentence, held_out_variants = task
    held_out = held_out_variants is not None
    utterance = synthesize(
        sentence.spoken,
        seed=[seed, split_index, index],
        held_out=held_out,
        held_out_variants=held_out_variants or HELD_OUT_ESPEAK_VARIANTS,
    )
    buffer = io.BytesIO()
    sf.write(buffer, utterance.audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return {
        "index": index,
        "flac": buffer.getvalue(),
        "seconds": len(utterance.audio) / SAMPLE_RATE,
        "voice": utterance.voice,
        "text": sentence.text,
        "source": sentence.source,
    }


def synthesize_split(tasks: list[tuple], pool: multiprocessing.pool.Pool | None, name: str) -> list[dict]:
    """Render every task, in parallel when a pool is given, keeping the sentences' order."""
    results = pool.imap(render, tasks, chunksize=4) if pool else map(render, tasks)
    rows = list(tqdm(results, total=len(tasks), desc=f"synthesising {name}", unit="clip"))
    return sorted(rows, key=lambda row: row["index"])


def to_dataset(rows: list[dict], split: str, description: str) -> datasets.Dataset:
    """Rows -> a `datasets.Dataset` whose `audio` column holds the FLAC bytes, decoded at 16 kHz."""
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SAMPLE_RATE),
            "text": datasets.Value("string"),
            "voice": datasets.Value("string"),
            "source": datasets.Value("string"),
        }
    )
    data = {
        "audio": [{"bytes": row["flac"], "path": f"{split}-{row['index']:05d}.flac"} for row in rows],
        "text": [row["text"] for row in rows],
        "voice": [row["voice"] for row in rows],
        "source": [row["source"] for row in rows],
    }
    # Cast rather than pass `features`: the bytes are already FLAC and need no re-encoding.
    info = datasets.DatasetInfo(description=description)
    return datasets.Dataset.from_dict(data, info=info, split=split).cast(features)


def write_audiofolder(root: Path, split: str, rows: list[dict]) -> None:
    """Write ``root/split/*.flac`` and the ``metadata.jsonl`` that an audiofolder loader reads (ours,
    `speech_datasets.load_audiofolder`, or datasets' own `load_dataset("audiofolder")` where it works: < 4, or with
    torchcodec).

    JSON Lines rather than CSV: pandas 3 reads CSV text as large strings, which datasets' folder loader
    does not take for `file_name`.
    """
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            name = f"{row['index']:05d}.flac"
            (folder / name).write_bytes(row["flac"])
            record = {"file_name": name, "text": row["text"], "voice": row["voice"], "source": row["source"]}
            handle.write(json.dumps(record) + "\n")


def build_corpus(
    out: str | Path,
    train: int = 8000,
    validation: int = 200,
    test: int = 200,
    held_out_voices: int = 200,
    max_seconds: float = 8.0,
    seed: int = 0,
    workers: int = 2,
    max_vocab: int | None = 2000,
    min_words: int = 3,
    max_words: int = 12,
    held_out_variants: tuple[str, ...] = HELD_OUT_ESPEAK_VARIANTS,
) -> Path:
    """Build the corpus into `out` (or reuse it if it was built with the same parameters); returns `out`.

    `max_vocab` None or 0 keeps every word; clips longer than `max_seconds` are dropped and counted.
    `held_out_variants` are the espeak-ng variants of the voice-held-out split; a build whose held-out split would
    share a voice or a sentence with the training split raises a `ValueError`.
    """
    out = Path(out)
    held_out_variants = tuple(held_out_variants)
    shared = sorted(set(held_out_variants) & set(ESPEAK_VARIANTS))
    if shared or not held_out_variants:
        raise ValueError(
            f"held_out_variants must be espeak-ng variants that the training voices never use, got {shared or 'none'}"
            f" in common with speech.ESPEAK_VARIANTS: pick others from `espeak-ng --voices=variant`."
        )
    params = {
        "version": CORPUS_VERSION,
        "train": train,
        "validation": validation,
        "test": test,
        HELD_OUT_SPLIT: held_out_voices,
        "held_out_variants": list(held_out_variants),
        "max_seconds": max_seconds,
        "seed": seed,
        "max_vocab": max_vocab or None,
        "min_words": min_words,
        "max_words": max_words,
    }
    params_path = out / PARAMS_FILE
    if params_path.is_file() and json.loads(params_path.read_text()) == params:
        print(f"corpus in {out} was built with the same parameters; reusing it")
        return out

    start = time.perf_counter()
    sentences, available = collect_sentences(min_words, max_words, params["max_vocab"])
    print(f"{len(sentences)} sentences available per source: {available}")
    splits = make_splits(sentences, {split: params[split] for split in SPLITS}, seed)

    # Build next to `out` and move it in at the end, so an interrupted build is never taken for a finished one.
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    description = "Echo synthetic English speech corpus; " + json.dumps(params)
    summary: dict = {"params": params, "sentences_available": available, "splits": {}}
    dataset_dict = datasets.DatasetDict()
    # fork starts workers in milliseconds; nothing in this process has started a thread pool yet.
    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers) if workers > 1 else None
    kept_rows: dict[str, list[dict]] = {}
    try:
        for split_index, split in enumerate(SPLITS):
            variants = held_out_variants if split == HELD_OUT_SPLIT else None
            tasks = [(seed, split_index, i, s, variants) for i, s in enumerate(splits[split])]
            rows = synthesize_split(tasks, pool, split)
            kept = [row for row in rows if row["seconds"] <= max_seconds]
            kept_rows[split] = kept
            summary["splits"][split] = split_summary(kept, dropped=len(rows) - len(kept))
            dataset_dict[split] = to_dataset(kept, split, description)
            write_audiofolder(tmp / "audiofolder", split, kept)
    finally:
        if pool:
            pool.close()
            pool.join()
    check_held_out(kept_rows)
    dataset_dict.save_to_disk(str(tmp))
    summary["build_seconds"] = round(time.perf_counter() - start, 1)
    (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    (tmp / PARAMS_FILE).write_text(json.dumps(params, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(json.dumps(summary, indent=2))
    return out


def check_held_out(rows: dict[str, list[dict]]) -> None:
    """Refuse a corpus whose voice-held-out split shares a voice or a sentence with any other split."""
    held_out = rows[HELD_OUT_SPLIT]
    for split, other in rows.items():
        if split == HELD_OUT_SPLIT:
            continue
        for column in ("voice", "text"):
            shared = {row[column] for row in held_out} & {row[column] for row in other}
            if shared:
                raise ValueError(
                    f"The {HELD_OUT_SPLIT} split shares {len(shared)} {column}(s) with {split}, e.g. "
                    f"{sorted(shared)[0]!r}: it would not measure unseen voices. Not building it."
                )


def split_summary(rows: list[dict], dropped: int) -> dict:
    """Counts and durations of one split, for the build report."""
    seconds = np.array([row["seconds"] for row in rows]) if rows else np.zeros(1)
    return {
        "clips": len(rows),
        "dropped_too_long": dropped,
        "hours": round(float(seconds.sum()) / 3600, 3),
        "mean_seconds": round(float(seconds.mean()), 2),
        "max_seconds": round(float(seconds.max()), 2),
        "voice_families": dict(collections.Counter(row["voice"].split(":")[0] for row in rows)),
        "sources": dict(collections.Counter(row["source"] for row in rows)),
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/echo-corpus", help="output directory")
    parser.add_argument("--train", type=int, default=8000, help="number of training clips")
    parser.add_argument("--validation", type=int, default=200, help="number of validation clips")
    parser.add_argument("--test", type=int, default=200, help="number of test clips")
    parser.add_argument(
        "--held-out-voices", type=int, default=200, help="number of clips spoken by voices no other split uses"
    )
    parser.add_argument("--max-seconds", type=float, default=8.0, help="drop clips longer than this")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentence shuffle and every clip")
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes")
    parser.add_argument(
        "--max-vocab",
        type=int,
        default=2000,
        help="keep sentences made of the N most frequent words only; 0 keeps all words",
    )
    parser.add_argument("--min-words", type=int, default=3, help="shortest sentence, in words")
    parser.add_argument("--max-words", type=int, default=12, help="longest sentence, in words")
    parser.add_argument(
        "--held-out-variants",
        default=",".join(HELD_OUT_ESPEAK_VARIANTS),
        help="comma-separated espeak-ng variants of the voice-held-out split (none may be a training variant)",
    )
    args = parser.parse_args(argv)
    build_corpus(
        args.out,
        train=args.train,
        validation=args.validation,
        test=args.test,
        held_out_voices=args.held_out_voices,
        max_seconds=args.max_seconds,
        seed=args.seed,
        workers=args.workers,
        max_vocab=args.max_vocab,
        min_words=args.min_words,
        max_words=args.max_words,
        held_out_variants=tuple(v for v in args.held_out_variants.split(",") if v),
    )


if __name__ == "__main__":
    main()
