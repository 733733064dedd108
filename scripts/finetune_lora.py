"""Fine-tune a trained Echo on voices the bundled corpus never uses, once with LoRA and once fully, and compare.

    python scripts/finetune_lora.py runs/demo --out runs/finetune_lora --train_clips 200 --eval_clips 50 --steps 200

Both runs see the same held-out-voice clips (`echo_hf.corpus.held_out`: espeak-ng variants outside the corpus,
sentences outside its splits), the same steps, batch size and seed; each has its own learning rate. The table
(trainable parameters, WER/CER on held-out-voice clips before and after, wall time) goes to `OUT/finetune_lora.json`
and `OUT/finetune_lora.md`.
"""

import argparse
import json
import time
from pathlib import Path

from echo_hf.corpus.held_out import build_held_out_voices
from echo_hf.training.evaluation import evaluate_model
from echo_hf.training.lora import MERGED_DIR
from echo_hf.training.run_config import EchoTrainingConfig
from echo_hf.training.train import train

TRAIN, EVAL = "finetune_train", "finetune_eval"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a trained Echo folder (model + processor), e.g. runs/demo")
    parser.add_argument("--out", default="runs/finetune_lora", help="folder for the data, both runs and the table")
    parser.add_argument("--corpus", default=None, help="the corpus the model trained on (reads its parameters)")
    parser.add_argument("--train_clips", type=int, default=200)
    parser.add_argument("--eval_clips", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--lora_learning_rate", type=float, default=2e-3)
    parser.add_argument("--full_learning_rate", type=float, default=5e-4)
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument("--target_modules", nargs="+", default=["attention", "feed_forward"])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def held_out_data(args: argparse.Namespace) -> Path:
    """The held-out-voice clips, built once per size and seed and reused."""
    data = Path(args.out) / "data"
    params = {"train": args.train_clips, "eval": args.eval_clips, "seed": args.seed, "corpus": args.corpus}
    params_file = Path(args.out) / "data_params.json"
    if not (params_file.is_file() and json.loads(params_file.read_text()) == params):
        corpus_params = json.loads((Path(args.corpus) / "corpus_params.json").read_text()) if args.corpus else None
        sizes = {TRAIN: args.train_clips, EVAL: args.eval_clips}
        build_held_out_voices(data, sizes, seed=args.seed, corpus_params=corpus_params)
        params_file.write_text(json.dumps(params))
    return data


def finetune(args: argparse.Namespace, data: Path, method: str) -> dict:
    """One fine-tuning run; returns its row of the table."""
    output_dir = Path(args.out) / method
    lora = {"r": args.r, "alpha": args.alpha, "target_modules": args.target_modules, "merge": True}
    config = EchoTrainingConfig(
        model=args.model,
        data=str(data),
        train_split=TRAIN,
        eval_split=None,
        test_split=None,
        filter_long=True,
        lora=lora if method == "lora" else None,
        training_args={
            "output_dir": str(output_dir),
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size,
            "learning_rate": args.lora_learning_rate if method == "lora" else args.full_learning_rate,
            "warmup_steps": args.steps // 10,
            "lr_scheduler_type": "cosine",
            "logging_steps": max(1, args.steps // 10),
            "save_strategy": "no",
            "report_to": "none",
            "seed": args.seed,
            "disable_tqdm": True,
        },
    )
    start = time.perf_counter()
    metrics = train(config)
    wall = time.perf_counter() - start
    # The merged LoRA model computes what the adapter computes (tests/test_lora.py) and loads like any model.
    scores = evaluate_model(str(output_dir / MERGED_DIR if method == "lora" else output_dir), str(data), split=EVAL)
    return {
        "method": method,
        "trainable_parameters": metrics["trainable_parameters"],
        "total_parameters": metrics["total_parameters"],
        "wer_after": scores["wer"],
        "cer_after": scores["cer"],
        "train_loss": metrics["train_loss"],
        "train_seconds": metrics["train_runtime"],
        "wall_seconds": round(wall, 1),
    }


def markdown(report: dict) -> str:
    rows = [
        f"| {row['method']} | {row['trainable_parameters']:,} of {row['total_parameters']:,} | "
        f"{report['wer_before']:.3f} | {row['wer_after']:.3f} | {row['cer_after']:.3f} | {row['train_seconds']:.0f} s |"
        for row in report["runs"]
    ]
    return "\n".join(
        [
            f"Fine-tuning `{report['model']}` on {report['train_clips']} clips of held-out voices, {report['steps']} "
            f"steps of {report['batch_size']}, seed {report['seed']}; WER/CER on {report['eval_clips']} other "
            f"held-out-voice clips (base model: WER {report['wer_before']:.3f}, CER {report['cer_before']:.3f}).",
            "",
            "| method | trainable parameters | WER before | WER after | CER after | training time |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )


def main() -> None:
    args = parse_args()
    data = held_out_data(args)
    before = evaluate_model(args.model, str(data), split=EVAL)
    report = {
        "model": args.model,
        "train_clips": args.train_clips,
        "eval_clips": args.eval_clips,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "learning_rates": {"lora": args.lora_learning_rate, "full": args.full_learning_rate},
        "lora": {"r": args.r, "alpha": args.alpha, "target_modules": args.target_modules},
        "wer_before": before["wer"],
        "cer_before": before["cer"],
        "runs": [finetune(args, data, method) for method in ("lora", "full")],
    }
    out = Path(args.out)
    (out / "finetune_lora.json").write_text(json.dumps(report, indent=2))
    (out / "finetune_lora.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
