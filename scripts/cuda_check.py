"""Echo's CUDA paths, run on a GPU: training under bf16 and fp16 autocast (the demo recipe through echo-train, and
the Whisper baseline), then generation on the GPU checked against itself and the CPU.

    python scripts/cuda_check.py DATA --out results/cuda [--steps 400]

DATA is a corpus folder (`python -m echo_hf.corpus.build`, or a subset of one with train / test / held_out_voices
splits). Each check is recorded in `OUT/cuda_check.json` with what it measured, and whether it held:

- training: the loss is finite throughout and ends below half its first logged value, for bf16 and fp16;
- cached and uncached greedy decoding give the same tokens on the GPU;
- SDPA and eager attention give the same logits on the GPU (fp32, to 1e-4);
- the GPU's greedy transcripts against the CPU's (share of identical token sequences: float rounding may break
  near-ties, so this is reported, not required);
- bf16 weights decode, and their transcripts' share identical to fp32's is reported;
- beam search with joint CTC decoding, and the ASR pipeline with word timestamps, run on the GPU.

The script exits non-zero if a check that must hold does not.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path

import torch

import echo_hf  # noqa: F401  (registers Echo with the Auto classes)
from echo_hf.audio_loading import decode_audio
from echo_hf.training.run_config import EchoTrainingConfig
from echo_hf.training.speech_datasets import load_speech_dataset
from echo_hf.training.train import train


def run_config(base: Path, data: Path, out: Path, precision: str, steps: int, model: str | None = None) -> Path:
    """The demo recipe on `data` for `steps` steps at `precision`, without its time cap or validation."""
    values = json.loads(base.read_text())
    values.update(
        data=str(data),
        precision=precision,
        max_train_minutes=None,
        eval_split=None,
        max_test_samples=100,
    )
    if model is not None:
        values["model"] = model
    values["training_args"].update(
        output_dir=str(out),
        max_steps=steps,
        warmup_steps=min(values["training_args"].get("warmup_steps", 0), steps // 4),
        eval_strategy="no",
        save_strategy="no",
        dataloader_num_workers=4,
        logging_steps=max(1, steps // 20),
        report_to="none",
        disable_tqdm=True,
    )
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(values, indent=2))
    return path


def training_check(config_path: Path) -> dict:
    """Train, and read the loss curve back from the run's log history."""
    start = time.perf_counter()
    metrics = train(EchoTrainingConfig.from_json(config_path))
    seconds = time.perf_counter() - start
    output = Path(json.loads(config_path.read_text())["training_args"]["output_dir"])
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    steps = metrics["global_step"]
    return {
        "passed": len(losses) > 1 and all(map(math.isfinite, losses)) and losses[-1] < 0.5 * losses[0],
        "losses": losses,
        "steps": steps,
        "train_seconds": round(metrics["train_runtime"], 1),
        "steps_per_second": round(steps / metrics["train_runtime"], 2),
        "wall_seconds_with_evaluation": round(seconds, 1),
        **{key: value for key, value in metrics.items() if key.endswith(("_wer", "_cer"))},
    }


def test_batch(data: Path, processor, count: int) -> dict:
    split = load_speech_dataset(str(data), "audio", "text")["test"]
    rate = processor.feature_extractor.sampling_rate
    audio = [decode_audio(split[index]["audio"], rate) for index in range(min(count, len(split)))]
    return dict(processor(audio=audio, sampling_rate=rate, return_tensors="pt"))


def generation_checks(model_dir: Path, data: Path) -> dict[str, dict]:
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

    processor = AutoProcessor.from_pretrained(model_dir)
    inputs = test_batch(data, processor, 16)
    on_gpu = {key: value.cuda() for key, value in inputs.items()}
    checks: dict[str, dict] = {}
    gpu = AutoModelForSpeechSeq2Seq.from_pretrained(model_dir).cuda().eval()
    cpu = AutoModelForSpeechSeq2Seq.from_pretrained(model_dir).eval()

    with torch.no_grad():
        cached = gpu.generate(**on_gpu, use_cache=True).cpu()
        uncached = gpu.generate(**on_gpu, use_cache=False).cpu()
        checks["cached_equals_uncached_on_gpu"] = {"passed": torch.equal(cached, uncached), "clips": len(cached)}

        decoder_input_ids = cached[:, :8].cuda()
        logits = {}
        for implementation in ("sdpa", "eager"):
            gpu.set_attn_implementation(implementation)
            logits[implementation] = gpu(**on_gpu, decoder_input_ids=decoder_input_ids).logits.float()
        gpu.set_attn_implementation("sdpa")
        difference = (logits["sdpa"] - logits["eager"]).abs().max().item()
        checks["sdpa_equals_eager_on_gpu"] = {"passed": difference < 1e-4, "max_abs_difference": difference}

        on_cpu = cpu.generate(**inputs)
        same = sum(torch.equal(a[a != 0], b[b != 0]) for a, b in zip(cached, on_cpu, strict=True))
        checks["gpu_vs_cpu_greedy"] = {"passed": True, "identical_sequences": f"{same}/{len(cached)}"}

        bf16 = AutoModelForSpeechSeq2Seq.from_pretrained(model_dir, dtype=torch.bfloat16).cuda().eval()
        in_bf16 = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in on_gpu.items()}
        half = bf16.generate(**in_bf16).cpu()
        same = sum(torch.equal(a[a != 0], b[b != 0]) for a, b in zip(cached, half, strict=True))
        checks["bf16_weights_decode"] = {
            "passed": half.shape[0] == len(cached),
            "identical_to_fp32": f"{same}/{len(cached)}",
        }

        beams = gpu.generate(**on_gpu, num_beams=4, ctc_weight=0.3)
        checks["beam_search_with_ctc_on_gpu"] = {"passed": beams.shape[0] == len(cached), "shape": list(beams.shape)}

    asr = pipeline(
        "automatic-speech-recognition",
        model=gpu,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
        device=0,
    )
    audio = inputs["waveform"][0][inputs["waveform_attention_mask"][0].bool()].numpy()
    words = asr(audio, return_timestamps="word")
    # One timed chunk per word of the text (an empty transcript has none).
    checks["pipeline_word_timestamps_on_gpu"] = {
        "passed": len(words["chunks"]) == len(words["text"].split()),
        "output": words,
    }
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/cuda"))
    parser.add_argument("--base", type=Path, default=Path("configs/train_tiny.json"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--whisper-steps", type=int, default=200)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("cuda_check.py needs a CUDA GPU.")
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "checks": {},
    }
    runs = args.out / "runs"
    runs.mkdir(exist_ok=True)
    whisper = runs / "whisper_model.json"
    sys.path.insert(0, str(Path(__file__).parent))
    from ablate import whisper_model

    echo = json.loads(Path(json.loads(args.base.read_text())["model"]).read_text())
    whisper.write_text(json.dumps(whisper_model(echo, 8.0)))
    planned = {
        "train_echo_bf16": (run_config(args.base, args.data, runs / "echo_bf16", "bf16", args.steps), None),
        "train_echo_fp16": (run_config(args.base, args.data, runs / "echo_fp16", "fp16", args.steps), None),
        "train_whisper_bf16": (
            run_config(args.base, args.data, runs / "whisper_bf16", "bf16", args.whisper_steps, str(whisper)),
            None,
        ),
    }
    for name, (config_path, _) in planned.items():
        try:
            report["checks"][name] = training_check(config_path)
        except Exception:  # one broken path must not hide the others' results
            report["checks"][name] = {"passed": False, "error": traceback.format_exc()}
        print(name, json.dumps(report["checks"][name])[:400], flush=True)
    try:
        report["checks"].update(generation_checks(runs / "echo_bf16", args.data))
    except Exception:
        report["checks"]["generation"] = {"passed": False, "error": traceback.format_exc()}
    (args.out / "cuda_check.json").write_text(json.dumps(report, indent=2, default=str))
    failed = [name for name, check in report["checks"].items() if not check["passed"]]
    print(json.dumps(report, indent=2, default=str)[:6000])
    print("failed:", failed or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
