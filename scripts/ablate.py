"""Ablations of Echo's design, each row trained by echo-train on the same corpus, tokenizer, steps, optimiser and seeds.

    python scripts/ablate.py [--steps 2500] [--seeds 0 1] [--rows echo spectrogram ...] [--out results/ablation]

Rows (every other setting is the base run config's, `configs/train_tiny.json`, and its model, `configs/tiny.json`):

- ``echo``: both views blended, soft zero mask (the default);
- ``spectrogram``, ``waveform``: one view alone (`audio_views`);
- ``hard_mask``: zero keys masked out (`zero_attention_epsilon=0`) instead of the soft mask;
- ``scale_logits``: the seed's variant, zero keys' logits multiplied by epsilon (`zero_attention_mode`);
- ``no_augmentation``: Echo trained on the clips as they are (no `augmentation` section; SpecAugment, a model
  option, stays as the base model has it);
- ``whisper``: `WhisperForConditionalGeneration` at the same width, depth, heads and MLP width, with the same
  tokenizer and SpecAugment settings; its fixed input is the corpus's longest clip (`max_seconds`) as the slowest
  speed or tempo augmentation stretches it, and it has no CTC loss (Whisper has none).

Augmentation rows (`--rows` names them; `make augmentation-ablation` runs them all) change the base recipe's
`augmentation` section (speed perturbation and level changes) by one augmentation, or turn on SpecAugment:

- ``no_speed``, ``no_gain``: the recipe without one of its two augmentations;
- ``tempo``, ``pitch``, ``reverb``, ``noise``, ``band_limit``: the recipe plus one augmentation on 30% of the clips,
  at its default strengths (`echo_hf/training/augmentation.py`);
- ``spec_augment``: the recipe plus SpecAugment (`apply_spec_augment`, time and frequency masks, 5% of each).

Each run trains for exactly `--steps` steps (no time cap, no checkpoints, no validation during training) and ends
with WER/CER on the in-voice `test` split and the voice-held-out `held_out_voices` split. Runs live in
`--runs/ROW-STEPSsteps-seedN`; a finished run is reused, so an interrupted ablation continues where it stopped and
two tables at the same steps share their common rows. `--jobs 2` trains two runs at a time, each with
`cores / jobs` torch threads. Writes `results.json` (every run), `table.md` (mean, min-max over seeds),
`ablation.png` (WER per row, one dot per seed) and `view_blend.png` in `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

# row -> (description, model JSON changes (None: the Whisper baseline), run config changes)
DESIGN_ROWS = {
    "echo": ("Echo: both views blended, soft zero mask", {}, {}),
    "spectrogram": ("spectrogram view only", {"audio_views": "spectrogram"}, {}),
    "waveform": ("waveform view only", {"audio_views": "waveform"}, {}),
    "hard_mask": ("hard zero mask (epsilon = 0)", {"zero_attention_epsilon": 0.0}, {}),
    "scale_logits": ("the seed's logit scaling of zero keys", {"zero_attention_mode": "scale_logits"}, {}),
    "no_augmentation": ("no waveform augmentation of the training clips", {}, {"augmentation": None}),
    # Whisper has no CTC loss: this row tells how much of the gap to it is the loss rather than the architecture.
    "no_ctc": ("no auxiliary CTC loss (cross-entropy alone)", {"ctc_loss_weight": 0.0}, {}),
    "whisper": ("Whisper at matched width, depth and heads", None, {}),
}
# The same, where `augmentation_edits` adds (name: settings) or removes (name: None) one augmentation of the base's.
ADDED = {"p": 0.3}
AUGMENTATION_ROWS = {
    "no_speed": ("without speed perturbation", {}, {"augmentation_edits": {"speed": None}}),
    "no_gain": ("without level changes", {}, {"augmentation_edits": {"gain": None}}),
    "tempo": ("+ time stretch, pitch kept (30%)", {}, {"augmentation_edits": {"tempo": ADDED}}),
    "pitch": ("+ pitch shift (30%)", {}, {"augmentation_edits": {"pitch": ADDED}}),
    "formant": ("+ formant shift, pitch kept (30%)", {}, {"augmentation_edits": {"formant": ADDED}}),
    "reverb": ("+ room reverberation (30%)", {}, {"augmentation_edits": {"reverb": ADDED}}),
    "noise": ("+ coloured noise (30%)", {}, {"augmentation_edits": {"noise": ADDED}}),
    "band_limit": ("+ band-limiting (30%)", {}, {"augmentation_edits": {"band_limit": ADDED}}),
    "spec_augment": (
        "+ SpecAugment (time and frequency masks)",
        {"apply_spec_augment": True, "mask_time_prob": 0.05, "mask_feature_prob": 0.05},
        {},
    ),
}
ROWS = {**DESIGN_ROWS, **AUGMENTATION_ROWS}
WHISPER_KEYS = (
    "num_mel_bins",
    "d_model",
    "encoder_layers",
    "encoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_layers",
    "decoder_attention_heads",
    "decoder_ffn_dim",
    "max_target_positions",
    "dropout",
    # Whisper's config has SpecAugment under the same names.
    "apply_spec_augment",
    "mask_time_prob",
    "mask_time_length",
    "mask_time_min_masks",
    "mask_feature_prob",
    "mask_feature_length",
    "mask_feature_min_masks",
)
SPLITS = {"test": "in-voice test", "test_held_out_voices": "voice-held-out"}
# The test loss is teacher-forced: it ranks short runs whose transcripts are still too wrong for WER to tell apart.
# Echo's is 0.7 x cross-entropy + 0.3 x CTC (the tiny preset's `ctc_loss_weight`); Whisper's is cross-entropy alone.
METRICS = ("loss", "wer", "cer")


def longest_training_clip(seconds: float, augmentation: dict | None) -> float:
    """The longest clip the collator can see: the data's longest, slowed by the slowest `speed` and `tempo`."""
    for name in ("speed", "tempo"):
        if augmentation and name in augmentation:
            seconds /= augmentation[name].get("factor", [0.9, 1.1])[0]  # the augmentation module's default range
    return seconds


def whisper_model(echo: dict, seconds: float) -> dict:
    """The Whisper baseline's model JSON: Echo's dimensions, and a fixed input of `seconds` (whole seconds)."""
    values = {"model_type": "whisper", **{key: echo[key] for key in WHISPER_KEYS if key in echo}}
    values["max_source_positions"] = 50 * int(-(-seconds // 1))  # 2 mel frames per position, 100 frames per second
    return values


def run_folder(args: argparse.Namespace, row: str, seed: int) -> Path:
    """One run's folder: tables of other rows at the same steps (`make ablation`, `make augmentation-ablation`)
    reuse it."""
    return args.runs / f"{row}-{args.steps}steps-seed{seed}"


def run_configs(args: argparse.Namespace) -> list[tuple[str, int, Path]]:
    """Write each run's model JSON and run config into its folder under `--runs`; returns (row, seed, folder)."""
    base = json.loads(Path(args.base).read_text())
    echo = json.loads(Path(base["model"]).read_text())
    corpus_params = Path(base["data"]) / "corpus_params.json"
    seconds = json.loads(corpus_params.read_text())["max_seconds"] if corpus_params.is_file() else args.whisper_seconds
    seconds = longest_training_clip(seconds, base.get("augmentation"))
    runs = []
    for row in args.rows:
        _, overrides, run_overrides = ROWS[row]
        model = whisper_model(echo, seconds) if overrides is None else {**echo, **overrides}
        for seed in args.seeds:
            folder = run_folder(args, row, seed)
            folder.mkdir(parents=True, exist_ok=True)
            changes = dict(run_overrides)
            augmentation = changes.get("augmentation", base.get("augmentation"))
            edits = changes.pop("augmentation_edits", {})
            if edits:
                augmentation = {**(augmentation or {}), **edits}
                augmentation = {name: value for name, value in augmentation.items() if value is not None} or None
                changes["augmentation"] = augmentation
            if augmentation:  # each seed draws its own augmentations too
                changes["augmentation"] = {**augmentation, "seed": seed}
            (folder / "model.json").write_text(json.dumps(model, indent=2))
            training_args = {
                **base["training_args"],
                "output_dir": str(folder / "run"),
                "max_steps": args.steps,
                "seed": seed,
                "eval_strategy": "no",
                "save_strategy": "no",
                "report_to": "none",
            }
            config = {
                **base,
                "model": str(folder / "model.json"),
                "eval_split": None,
                "test_split": ["test", "held_out_voices"],
                "max_train_minutes": None,
                "training_args": training_args,
                **changes,
            }
            for key, value in (
                ("max_train_samples", args.max_train_samples),
                ("max_test_samples", args.max_test_samples),
            ):
                if value is not None:
                    config[key] = value
            (folder / "train.json").write_text(json.dumps(config, indent=2))
            runs.append((row, seed, folder))
    return runs


def train(row: str, seed: int, folder: Path, threads: int | None = None) -> dict:
    """Train one run in its own process, or reuse its results if it finished with the same run config and model;
    returns its metrics and wall time."""
    results = folder / "run" / "all_results.json"
    timing = folder / "wall_seconds.json"
    planned = {name: json.loads((folder / f"{name}.json").read_text()) for name in ("train", "model")}
    done = results.is_file() and timing.is_file() and json.loads(timing.read_text()).get("planned") == planned
    if not done:
        start = time.perf_counter()
        with open(folder / "train.log", "w") as log:
            command = [sys.executable, "-m", "echo_hf.training.train", str(folder / "train.json")]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        if code:
            raise SystemExit(f"{row} seed {seed} failed (exit {code}); see {folder / 'train.log'}")
        timing.write_text(json.dumps({"wall_seconds": round(time.perf_counter() - start, 1), "planned": planned}))
    return collect(row, seed, folder)


def summary(runs: list[dict]) -> list[dict]:
    """Per row: mean, min and max over seeds of each split's WER and CER, parameters and wall time."""
    rows = []
    for row in dict.fromkeys(run["row"] for run in runs):
        mine = [run for run in runs if run["row"] == row]
        entry = {"row": row, "description": ROWS[row][0], "seeds": [run["seed"] for run in mine]}
        entry["parameters"] = mine[0]["total_parameters"]
        entry["wall_minutes"] = statistics.mean(run["wall_seconds"] for run in mine) / 60
        for split in SPLITS:
            for metric in METRICS:
                values = [run[f"{split}_{metric}"] for run in mine]
                entry[f"{split}_{metric}"] = {"mean": statistics.mean(values), "min": min(values), "max": max(values)}
        rows.append(entry)
    return rows


def table(rows: list[dict], steps: int) -> str:
    """Markdown: mean (min-max over seeds) per row and metric; with an `echo` row, each row's voice-held-out WER
    minus Echo's (mean against mean)."""

    def cell(value: dict) -> str:
        return f"{value['mean']:.3f} ({value['min']:.3f}-{value['max']:.3f})"

    held_out = "test_held_out_voices_wer"
    reference = next((row[held_out]["mean"] for row in rows if row["row"] == "echo"), None)
    names = " | ".join(f"{name} {metric.upper()}" for name in SPLITS.values() for metric in METRICS)
    extra = " | voice-held-out WER - echo's" if reference is not None else ""
    columns = 3 + len(METRICS) * len(SPLITS) + (reference is not None)
    lines = [f"| row | params | {names}{extra} | minutes |", "|" + "---|" * columns]
    for row in rows:
        scores = " | ".join(cell(row[f"{split}_{metric}"]) for split in SPLITS for metric in METRICS)
        if reference is not None:
            scores += f" | {row[held_out]['mean'] - reference:+.3f}"
        lines.append(
            f"| {row['row']}: {row['description']} | {row['parameters'] / 1e6:.2f} M | {scores} | "
            f"{row['wall_minutes']:.1f} |"
        )
    seeds = sorted({seed for row in rows for seed in row["seeds"]})
    return "\n".join(lines) + f"\n\n{steps} steps per run, seeds {seeds}; greedy decoding; mean (min-max over seeds).\n"


def plot(runs: list[dict], rows: list[dict], path: Path) -> None:
    """Test loss (top) and WER (bottom) per row on each test split: bars are means, dots the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(SPLITS), figsize=(6 * len(SPLITS), 8), squeeze=False)
    names = [row["row"] for row in rows]
    for column, (split, title) in enumerate(SPLITS.items()):
        for line, metric in enumerate(("loss", "wer")):
            axis = axes[line, column]
            axis.bar(range(len(names)), [row[f"{split}_{metric}"]["mean"] for row in rows], color="#9bb7d4")
            for index, name in enumerate(names):
                values = [run[f"{split}_{metric}"] for run in runs if run["row"] == name]
                axis.scatter([index] * len(values), values, color="black", s=14, zorder=3)
            axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
            axis.set(title=f"{title} {metric.upper()} (bars: mean; dots: seeds)", ylabel=metric.upper())
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_view_blends(folders: list[Path], path: Path) -> bool:
    """The learned view blend sigmoid(b) (the spectrogram's share) against the step, one line per run folder whose
    model has both views; returns whether any run logged it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for folder in folders:
        state = folder / "run" / "trainer_state.json"
        history = json.loads(state.read_text())["log_history"] if state.is_file() else []
        points = [(entry["step"], entry["view_blend"]) for entry in history if "view_blend" in entry]
        if points:
            axis.plot(*zip(*points, strict=True), label=folder.name)
    found = bool(axis.lines)
    if found:
        axis.set(xlabel="step", ylabel="sigmoid(b): spectrogram share", title="Learned view blend", ylim=(0, 1))
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    plt.close(figure)
    return found


def collect(row: str, seed: int, folder: Path) -> dict:
    """A finished run's metrics and wall time, as `train` returns them."""
    timing = json.loads((folder / "wall_seconds.json").read_text())
    metrics = json.loads((folder / "run" / "all_results.json").read_text())
    return {"row": row, "seed": seed, "wall_seconds": timing["wall_seconds"], **metrics}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="configs/train_tiny.json", help="the run config every row starts from")
    parser.add_argument("--rows", nargs="+", default=list(DESIGN_ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--out", type=Path, default=Path("results/ablation"), help="where the table and plots go")
    parser.add_argument(
        "--runs", type=Path, default=Path("runs/ablation"), help="where the runs go (one folder per row, steps, seed)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time, sharing the cores")
    parser.add_argument("--summary-only", action="store_true", help="rewrite --out from the finished runs in --runs")
    parser.add_argument("--max-train-samples", type=int, default=None, help="for a quick trial of the script")
    parser.add_argument("--max-test-samples", type=int, default=None, help="for a quick trial of the script")
    parser.add_argument(
        "--whisper-seconds", type=float, default=8.0, help="Whisper's input length when the data has no corpus_params"
    )
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("an ablation needs at least 2 seeds per row, to show the spread")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.summary_only:
        runs = [collect(row, seed, run_folder(args, row, seed)) for row in args.rows for seed in args.seeds]
    else:
        runs = run_all(args)
    rows = summary(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"runs": runs, "rows": rows, "steps": args.steps}, indent=2))
    (args.out / "table.md").write_text(table(rows, args.steps))
    plot(runs, rows, args.out / "ablation.png")
    plot_view_blends([run_folder(args, run["row"], run["seed"]) for run in runs], args.out / "view_blend.png")
    print(table(rows, args.steps))


def run_all(args: argparse.Namespace) -> list[dict]:
    """Plan every run and train those not finished, `--jobs` at a time; returns their results in planned order."""
    planned = run_configs(args)
    threads = max(1, len(os.sched_getaffinity(0)) // args.jobs) if args.jobs > 1 else None
    with ThreadPoolExecutor(args.jobs) as pool, tqdm(total=len(planned), desc="ablation runs", unit="run") as bar:
        futures = [pool.submit(train, row, seed, folder, threads) for row, seed, folder in planned]
        runs = []
        try:
            for future in futures:  # in the planned order
                runs.append(future.result())
                bar.update()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a failed run stops the ablation now, not after the queued ones
            raise
    return runs


if __name__ == "__main__":
    main()
