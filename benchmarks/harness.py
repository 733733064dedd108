"""Echo vs Whisper at matched size: training step, greedy generation, feature extraction, encoder scaling.

Every comparison runs in one process on the same inputs, with the cases interleaved round-robin (the order
rotated each round) so that load from other processes hits every case alike. Each case is warmed up once;
we report medians. Weights are random: nothing is downloaded, and speed does not depend on the weights' values.

CPU peak memory is measured in a fresh subprocess per case, because torch's allocator is invisible to
tracemalloc and an RSS high-water mark only ever rises within one process.
"""

import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
from transformers.utils import logging as hf_logging

from echo_hf import EchoConfig, EchoFeatureExtractor, EchoForConditionalGeneration

SAMPLING_RATE = 16000
WHISPER_SECONDS = 30  # Whisper is trained on, and always fed, 30 s windows
# Transcript length scales with the clip: about 3 BPE tokens per second of English speech.
TOKENS_PER_SECOND = 3
SEED = 0


@dataclass
class BenchSettings:
    """What to run. `quick` shrinks everything so the whole benchmark finishes in a few minutes."""

    echo_config: str = "configs/seed.json"
    device: str = "cpu"
    train_batch: int = 8
    train_seconds: tuple[int, ...] = (30, 5)
    train_repeats: int = 3
    generate_batches: tuple[int, ...] = (1, 8)
    generate_tokens: int = 64
    generate_repeats: int = 3
    extract_clips: int = 16
    extract_repeats: int = 5
    encoder_seconds: tuple[int, ...] = (1, 2, 5, 10, 20, 30)
    encoder_batch: int = 1
    encoder_repeats: int = 5
    measure_memory: bool = True

    @classmethod
    def quick(cls, **overrides) -> "BenchSettings":
        settings = dict(
            train_batch=2,
            train_repeats=1,
            generate_batches=(1, 2),
            generate_tokens=16,
            generate_repeats=1,
            extract_clips=4,
            extract_repeats=2,
            encoder_seconds=(1, 5, 30),
            encoder_repeats=2,
        )
        return cls(**{**settings, **overrides})


@dataclass
class BenchResults:
    """Everything measured, as plain data (seconds, bytes, rates) so it serialises to JSON."""

    machine: dict
    settings: dict
    train: list[dict] = field(default_factory=list)
    generate: list[dict] = field(default_factory=list)
    extract: dict = field(default_factory=dict)
    encoder: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ models


def whisper_config() -> WhisperConfig:
    """Whisper at Echo's seed size. Dropout matches Echo's preset (0.1) so both train with the same regulariser."""
    return WhisperConfig(
        d_model=512,
        encoder_layers=4,
        decoder_layers=4,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=2048,
        decoder_ffn_dim=2048,
        vocab_size=51865,
        num_mel_bins=128,
        max_source_positions=1500,
        dropout=0.1,
    )


def load_echo_config(path: str) -> EchoConfig:
    values = json.loads(Path(path).read_text())
    values.pop("model_type", None)
    return EchoConfig(**values)


def build_models(settings: BenchSettings) -> tuple[EchoForConditionalGeneration, WhisperForConditionalGeneration]:
    torch.manual_seed(SEED)
    echo = EchoForConditionalGeneration(load_echo_config(settings.echo_config)).to(settings.device)
    whisper = WhisperForConditionalGeneration(whisper_config()).to(settings.device)
    return echo, whisper


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------ inputs


def random_clips(count: int, seconds: list[float] | float, seed: int = SEED) -> list[np.ndarray]:
    """Speech-level noise clips (float32, ~-20 dBFS) with no exact zeros, so no frame counts as silence."""
    rng = np.random.default_rng(seed)
    lengths = seconds if isinstance(seconds, list) else [seconds] * count
    return [(0.1 * rng.standard_normal(int(s * SAMPLING_RATE))).astype(np.float32) for s in lengths]


def echo_inputs(clips: list[np.ndarray], device: str) -> dict[str, torch.Tensor]:
    """Both views with their masks, exactly as `EchoFeatureExtractor` hands them to a user."""
    features = EchoFeatureExtractor()(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    return {key: value.to(device) for key, value in features.items()}


def whisper_inputs(clips: list[np.ndarray], device: str) -> dict[str, torch.Tensor]:
    features = WhisperFeatureExtractor(feature_size=128)(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    return {"input_features": features["input_features"].to(device)}


def random_labels(batch: int, seconds: float, vocab_size: int, device: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(SEED)
    tokens = max(1, round(TOKENS_PER_SECOND * seconds))
    return torch.randint(1, vocab_size, (batch, tokens), generator=generator).to(device)


# ------------------------------------------------------------------------------------------ timing


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(
    cases: dict[str, Callable[[], object]], repeats: int, device: str, desc: str, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each case, measured round-robin; each round starts one case later than the last."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    with tqdm(total=repeats * len(names), desc=desc, leave=False) as progress:
        for round_index in range(repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                synchronize(device)
                start = time.perf_counter()
                cases[name]()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
                progress.update()
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


# ------------------------------------------------------------------------------------------ training step


def make_train_step(model: torch.nn.Module, inputs: dict, labels: torch.Tensor) -> Callable[[], None]:
    """One forward + backward + AdamW step; the optimizer is built once so its state is allocated by warm-up."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        model(**inputs, labels=labels).loss.backward()
        optimizer.step()

    return step


def train_cases(echo, whisper, settings: BenchSettings, seconds: float) -> dict[str, Callable[[], None]]:
    clips = random_clips(settings.train_batch, seconds)
    both = echo_inputs(clips, settings.device)
    spectrogram_only = {k: both[k] for k in ("input_features", "attention_mask")}
    labels = random_labels(settings.train_batch, seconds, echo.config.vocab_size, settings.device)
    return {
        "echo": make_train_step(echo, both, labels),
        "echo_spec": make_train_step(echo, spectrogram_only, labels),
        "whisper": make_train_step(whisper, whisper_inputs(clips, settings.device), labels),
    }


def bench_training(echo, whisper, settings: BenchSettings) -> list[dict]:
    rows = []
    for seconds in settings.train_seconds:
        cases = train_cases(echo, whisper, settings, seconds)
        times = time_interleaved(cases, settings.train_repeats, settings.device, f"train {seconds}s")
        for name, values in times.items():
            row = {"model": name, "seconds": seconds, "median_s": median(values), "times_s": values}
            if settings.measure_memory:
                row["peak_memory_bytes"] = measure_train_memory(name, seconds, settings)
            rows.append(row)
    return rows


def measure_train_memory(case: str, seconds: float, settings: BenchSettings) -> int:
    """Peak memory of one training step of `case` (after warm-up), in bytes.

    CUDA: `torch.cuda.max_memory_allocated` during a warmed-up step above what is allocated before it
    (activations, gradients, temporaries). CPU (Linux): a fresh subprocess builds the models and inputs, resets
    the kernel's RSS high-water mark, runs one step and reports peak RSS minus the RSS before the step; this
    counts activations, gradients, the AdamW state created by that first step and allocator slack, not the
    weights or inputs.
    """
    if settings.device.startswith("cuda"):
        echo, whisper = build_models(settings)
        step = train_cases(echo, whisper, settings, seconds)[case]
        step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    request = json.dumps(
        {"case": case, "seconds": seconds, "settings": settings.__dict__, "threads": torch.get_num_threads()}
    )
    completed = subprocess.run(
        [sys.executable, __file__, "memory-child", request],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout.strip().splitlines()[-1])


def memory_child(request: str) -> None:
    """Subprocess entry point of `measure_train_memory` on CPU: prints the step's peak RSS delta in bytes."""
    spec = json.loads(request)
    settings = BenchSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["settings"].items()})
    torch.set_num_threads(spec["threads"])
    echo, whisper = build_models(settings)
    step = train_cases(echo, whisper, settings, spec["seconds"])[spec["case"]]
    # Writing 5 to clear_refs resets the kernel's high-water mark (VmHWM), so building the models does not count.
    Path("/proc/self/clear_refs").write_text("5")
    before = rss_kib("VmRSS")
    step()
    print((rss_kib("VmHWM") - before) * 1024)


def rss_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}: CPU memory is measured on Linux only.")


# ------------------------------------------------------------------------------------------ generation


def bench_generation(echo, whisper, settings: BenchSettings) -> list[dict]:
    """Greedy decoding of exactly `generate_tokens` tokens with the cache, encoder included, on 30 s clips."""
    echo.eval()
    whisper.eval()
    tokens = settings.generate_tokens
    fixed = dict(min_new_tokens=tokens, max_new_tokens=tokens, do_sample=False, num_beams=1)
    rows = []
    for batch in settings.generate_batches:
        clips = random_clips(batch, WHISPER_SECONDS)
        echo_in, whisper_in = echo_inputs(clips, settings.device), whisper_inputs(clips, settings.device)
        cases = {
            "echo": lambda e=echo_in: echo.generate(**e, **fixed),
            "whisper": lambda w=whisper_in: whisper.generate(**w, **fixed),
        }
        times = time_interleaved(cases, settings.generate_repeats, settings.device, f"generate batch {batch}")
        for name, values in times.items():
            seconds = median(values)
            rows.append(
                {
                    "model": name,
                    "batch": batch,
                    "median_s": seconds,
                    "tokens_per_s": batch * tokens / seconds,
                    "times_s": values,
                }
            )
    return rows


# ------------------------------------------------------------------------------------------ features


def extract_clip_seconds(count: int) -> list[float]:
    """`count` clip lengths spread evenly from 1 s to 30 s."""
    return [float(s) for s in np.linspace(1, WHISPER_SECONDS, count).round(1)]


def bench_feature_extraction(settings: BenchSettings) -> dict:
    """Seconds of audio per second of extraction, each extractor called as a user would (return_tensors="pt")."""
    lengths = extract_clip_seconds(settings.extract_clips)
    clips = random_clips(len(lengths), lengths)
    echo_fe, whisper_fe = EchoFeatureExtractor(), WhisperFeatureExtractor(feature_size=128)
    cases = {
        "echo": lambda: echo_fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt"),
        "whisper": lambda: whisper_fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt"),
    }
    times = time_interleaved(cases, settings.extract_repeats, "cpu", "feature extraction")
    audio_seconds = sum(lengths)
    return {
        "clip_seconds": lengths,
        "audio_seconds": audio_seconds,
        "rows": [
            {"model": name, "median_s": median(v), "audio_s_per_s": audio_seconds / median(v), "times_s": v}
            for name, v in times.items()
        ],
    }


# ------------------------------------------------------------------------------------------ encoder scaling


def bench_encoder_scaling(echo, whisper, settings: BenchSettings) -> list[dict]:
    """Encoder forward (no grad) vs clip length. Whisper's input is 30 s whatever the clip, so it is timed once."""
    echo.eval()
    whisper.eval()
    batch = settings.encoder_batch
    echo_encoder, whisper_encoder = echo.get_encoder(), whisper.get_encoder()
    cases: dict[str, Callable[[], object]] = {}
    for seconds in settings.encoder_seconds:
        both = echo_inputs(random_clips(batch, seconds), settings.device)
        spectrogram_only = {k: both[k] for k in ("input_features", "attention_mask")}
        cases[f"echo:{seconds}"] = lambda b=both: echo_encoder(**b)
        cases[f"echo_spec:{seconds}"] = lambda s=spectrogram_only: echo_encoder(**s)
    whisper_in = whisper_inputs(random_clips(batch, WHISPER_SECONDS), settings.device)
    cases["whisper:30"] = lambda: whisper_encoder(**whisper_in)
    with torch.no_grad():
        times = time_interleaved(cases, settings.encoder_repeats, settings.device, "encoder scaling")
    rows = []
    for key, values in times.items():
        name, seconds = key.split(":")
        rows.append({"model": name, "seconds": int(seconds), "median_s": median(values), "times_s": values})
    return rows


# ------------------------------------------------------------------------------------------ report


def machine_description(device: str) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import transformers

    info = {
        "cpu": cpu,
        "logical_cores": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_all(settings: BenchSettings) -> BenchResults:
    # Whisper's generate() warns about unset language/task options that random weights make meaningless.
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning)
    echo, whisper = build_models(settings)
    results = BenchResults(machine=machine_description(settings.device), settings=dict(settings.__dict__))
    results.machine["echo_parameters"] = parameter_count(echo)
    results.machine["whisper_parameters"] = parameter_count(whisper)
    results.extract = bench_feature_extraction(settings)
    results.encoder = bench_encoder_scaling(echo, whisper, settings)
    results.generate = bench_generation(echo, whisper, settings)
    results.train = bench_training(echo, whisper, settings)
    return results


def _row(rows: list[dict], **match) -> dict:
    return next(r for r in rows if all(r[k] == v for k, v in match.items()))


def targets(results: BenchResults) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for every target that the run measured."""
    found = []
    train = results.train
    seconds = {r["seconds"] for r in train}
    if 30 in seconds:
        ratio = _row(train, model="echo", seconds=30)["median_s"] / _row(train, model="whisper", seconds=30)["median_s"]
        found.append(("train step 30 s: Echo time / Whisper time <= 1", f"{ratio:.2f}", ratio <= 1.0))
        overhead = (
            _row(train, model="echo", seconds=30)["median_s"] / _row(train, model="echo_spec", seconds=30)["median_s"]
        )
        found.append(
            (
                "train step 30 s: waveform-branch overhead (both / spec-only - 1) < 25%",
                f"{overhead - 1:.0%}",
                overhead < 1.25,
            )
        )
    if {30, 5} <= seconds:
        ratio = _row(train, model="echo", seconds=5)["median_s"] / _row(train, model="echo", seconds=30)["median_s"]
        found.append(("train step: Echo 5 s / Echo 30 s <= 0.35", f"{ratio:.2f}", ratio <= 0.35))
    for batch in sorted({r["batch"] for r in results.generate}):
        echo_rate = _row(results.generate, model="echo", batch=batch)["tokens_per_s"]
        whisper_rate = _row(results.generate, model="whisper", batch=batch)["tokens_per_s"]
        ratio = echo_rate / whisper_rate
        found.append((f"greedy generation batch {batch}: Echo tok/s / Whisper tok/s >= 1", f"{ratio:.2f}", ratio >= 1))
    if results.extract:
        rows = results.extract["rows"]
        ratio = _row(rows, model="echo")["audio_s_per_s"] / _row(rows, model="whisper")["audio_s_per_s"]
        found.append(("feature extraction: Echo / WhisperFeatureExtractor >= 3", f"{ratio:.1f}x", ratio >= 3))
    return found


def markdown_report(results: BenchResults) -> str:
    m, s = results.machine, results.settings
    lines = [
        f"# Echo vs Whisper (matched size) on {m['device']}",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores, torch threads {m['torch_threads']}"
        + (f", GPU {m['gpu']}" if "gpu" in m else ""),
        f"- torch {m['torch']}, transformers {m['transformers']}, Python {m['python']}",
        f"- Parameters: Echo {m['echo_parameters'] / 1e6:.1f} M (`{s['echo_config']}`), "
        f"Whisper {m['whisper_parameters'] / 1e6:.1f} M (d_model 512, 4+4 layers, 4 heads, ffn 2048, 128 mels, "
        "dropout 0.1 as Echo's preset)",
        "- Random weights; cases interleaved round-robin in one process, one warm-up each, medians reported.",
        "",
        f"## Training step (forward + backward + AdamW), batch {s['train_batch']}, {s['train_repeats']} repeats",
        "",
        "Echo takes the clip's real length; Whisper always takes 30 s. Labels: "
        f"{TOKENS_PER_SECOND} tokens per second of audio. Memory: "
        + (
            "`torch.cuda.max_memory_allocated` during a step minus what was allocated before it."
            if m["device"].startswith("cuda")
            else "peak RSS (kernel high-water mark, reset before the step) of a fresh process during its first "
            "step minus its RSS before it: activations, gradients, AdamW state, allocator slack; not weights or inputs."
        ),
        "",
        "| clip | model | median step (s) | vs Whisper | peak memory (MiB) |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in results.train:
        whisper = _row(results.train, model="whisper", seconds=row["seconds"])
        memory = f"{row['peak_memory_bytes'] / 2**20:.0f}" if "peak_memory_bytes" in row else "-"
        lines.append(
            f"| {row['seconds']} s | {row['model']} | {row['median_s']:.3f} | "
            f"{row['median_s'] / whisper['median_s']:.2f}x | {memory} |"
        )
    lines += [
        "",
        f"## Greedy generation, exactly {s['generate_tokens']} tokens with the cache, 30 s clips, "
        f"{s['generate_repeats']} repeats",
        "",
        "Time covers encoding the clip (features precomputed) and every decoding step.",
        "",
        "| batch | model | median (s) | tokens/s | vs Whisper |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in results.generate:
        whisper = _row(results.generate, model="whisper", batch=row["batch"])
        lines.append(
            f"| {row['batch']} | {row['model']} | {row['median_s']:.3f} | {row['tokens_per_s']:.1f} | "
            f"{row['tokens_per_s'] / whisper['tokens_per_s']:.2f}x |"
        )
    extract = results.extract
    lines += [
        "",
        f"## Feature extraction, {len(extract['clip_seconds'])} clips of "
        f"{', '.join(f'{c:g}' for c in extract['clip_seconds'])} s ({extract['audio_seconds']:.0f} s of audio), "
        f"{s['extract_repeats']} repeats",
        "",
        'Both called as a user would: a list of numpy clips, `sampling_rate=16000`, `return_tensors="pt"`. '
        "Whisper pads every clip to 30 s; Echo pads to the longest clip.",
        "",
        "| extractor | median (s) | audio seconds / s | vs Whisper |",
        "|---|---:|---:|---:|",
    ]
    whisper = _row(extract["rows"], model="whisper")
    for row in extract["rows"]:
        lines.append(
            f"| {row['model']} | {row['median_s']:.3f} | {row['audio_s_per_s']:.0f} | "
            f"{row['audio_s_per_s'] / whisper['audio_s_per_s']:.2f}x |"
        )
    whisper_encoder = _row(results.encoder, model="whisper")["median_s"]
    lines += [
        "",
        f"## Encoder forward vs clip length, batch {s['encoder_batch']}, {s['encoder_repeats']} repeats",
        "",
        f"Whisper's encoder always sees 30 s: {whisper_encoder:.3f} s.",
        "",
        "| clip | Echo both views (s) | Echo spectrogram only (s) | Echo / Whisper |",
        "|---:|---:|---:|---:|",
    ]
    for seconds in s["encoder_seconds"]:
        both = _row(results.encoder, model="echo", seconds=seconds)["median_s"]
        spec = _row(results.encoder, model="echo_spec", seconds=seconds)["median_s"]
        lines.append(f"| {seconds} s | {both:.3f} | {spec:.3f} | {both / whisper_encoder:.2f}x |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for name, measured, met in targets(results):
        lines.append(f"| {name} | {measured} | {'yes' if met else 'no'} |")
    return "\n".join(lines) + "\n"


def plot_encoder_scaling(results: BenchResults, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    seconds = results.settings["encoder_seconds"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label in (("echo", "Echo, both views"), ("echo_spec", "Echo, spectrogram only")):
        ax.plot(seconds, [_row(results.encoder, model=name, seconds=s)["median_s"] for s in seconds], "o-", label=label)
    whisper = _row(results.encoder, model="whisper")["median_s"]
    ax.axhline(whisper, color="grey", linestyle="--", label="Whisper (always 30 s)")
    ax.set_xlabel("clip length (s)")
    ax.set_ylabel("encoder forward, median (s)")
    ax.set_title(
        f"Encoder cost vs clip length, batch {results.settings['encoder_batch']} ({results.machine['device']})"
    )
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(results: BenchResults, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    device = "cuda" if results.machine["device"].startswith("cuda") else "cpu"
    paths = [
        out_dir / f"results_{device}.md",
        out_dir / f"results_{device}.json",
        out_dir / f"encoder_scaling_{device}.png",
    ]
    paths[0].write_text(markdown_report(results))
    paths[1].write_text(json.dumps(results.__dict__, indent=1, default=list))
    plot_encoder_scaling(results, paths[2])
    return paths


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "memory-child":
    memory_child(sys.argv[2])
