"""Sharing a trained Echo on the Hugging Face Hub: its model card, and one folder that works with
`trust_remote_code=True` alone.

Any folder `save_pretrained` writes already is one (config.json names Echo's ASR pipeline in `custom_pipelines`
and the code files travel with it, see `EchoConfig`); sharing adds the model card (README.md) and uploads the folder
in a single commit through `HfApi.create_commit`.
"""

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import CommitOperationAdd, HfApi
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

from . import MODEL_FILES

CARD = "README.md"
# What a model folder must hold besides the weights for the pipeline to load it: one file of each group.
PROCESSOR_FILES = {
    "feature extractor": ("processor_config.json", "preprocessor_config.json"),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json"),
}


# ------------------------------------------------------------------------------------------ the model card

USAGE = """\
```python
from transformers import pipeline

# The repository carries Echo's code and names its pipeline: trust_remote_code=True is all it takes.
asr = pipeline("automatic-speech-recognition", model="{path}", trust_remote_code=True)
print(asr("speech.wav")["text"])
print(asr("long.wav", chunk_length_s=20, batch_size=4, return_timestamps=True)["chunks"])

# Or with the echo_hf package installed and imported:
import echo_hf
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

from . import MODEL_FILES

model = AutoModelForSpeechSeq2Seq.from_pretrained("{path}")
processor = AutoProcessor.from_pretrained("{path}")
asr = pipeline("automatic-speech-recognition", model=model, tokenizer=processor.tokenizer,
               feature_extractor=processor.feature_extractor)
```
Command line: `echo-transcribe {path} speech.wav --format srt`.
"""


ADAPTER_USAGE = """\
This folder is a LoRA adapter (`peft`), not a full model: it needs its base model, `{base}`.

```python
import echo_hf  # registers "echo" with the Auto classes
from peft import PeftModel
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

base = AutoModelForSpeechSeq2Seq.from_pretrained("{base}")
model = PeftModel.from_pretrained(base, "{path}")  # the adapted model; generate() works through it
processor = AutoProcessor.from_pretrained("{path}")
merged = model.merge_and_unload()  # optional: a plain Echo model with the adapter folded into its weights
```
"""


def model_card_metadata(
    model_name: str, dataset_name: str | None, results: dict[str, float], base_model: str | None = None
) -> dict[str, Any]:
    """The YAML front matter the Hub reads: library, task, language, datasets and a model-index of results.

    A LoRA adapter (`base_model` given) is a `peft` folder and names the model it adapts, as the Hub expects."""
    # Every test split the run scored ("test", and e.g. "test_held_out_voices" for the voices training never heard),
    # then validation.
    tests = sorted({key[: -len("_wer")] for key in results if key.startswith("test") and key.endswith("_wer")})
    metrics = [
        {
            "type": name,
            "value": round(float(results[f"{split}_{name}"]), 4),
            "name": f"{name.upper()} ({split.replace('_', ' ', 1)})",
        }
        for split in (*tests, "eval")
        for name in ("wer", "cer")
        if f"{split}_{name}" in results
    ]
    metadata = {
        "library_name": "transformers" if base_model is None else "peft",
        "pipeline_tag": "automatic-speech-recognition",
        "language": ["en"],
        "license": "apache-2.0",
        "tags": ["echo", "speech-recognition"] + ([] if base_model is None else ["lora"]),
        "datasets": [dataset_name] if dataset_name else [],
        "metrics": ["wer", "cer"],
    }
    if base_model is not None and not Path(base_model).exists():  # the Hub's `base_model` is a repo id, not a path
        metadata["base_model"] = base_model
    if not metrics or not dataset_name:  # the Hub rejects a model-index entry without measured results
        return metadata
    metadata["model-index"] = [
        {
            "name": model_name,
            "results": [
                {
                    "task": {"type": "automatic-speech-recognition", "name": "Speech Recognition"},
                    "dataset": {"type": dataset_name, "name": dataset_name},
                    "metrics": metrics,
                }
            ],
        }
    ]
    return metadata


def write_model_card(
    output_dir: str | Path,
    dataset_name: str | None,
    results: dict[str, float],
    split_sizes: dict[str, int],
    training_config: dict[str, Any],
    model_config: dict[str, Any],
    model_id: str | None = None,
    base_model: str | None = None,
) -> Path:
    """Write `output_dir/README.md` and return its path.

    `model_id` (a Hub repo id) is what the usage snippet loads; it defaults to `output_dir`. Unknown facts may be
    empty (`dataset_name=None`, `results={}`): the card then says so instead of inventing them. `base_model` marks
    the folder as a LoRA adapter of that model: the card says so and shows how to load it through peft.
    """
    output_dir = Path(output_dir)
    model_id = model_id or str(output_dir)
    name = model_id.rstrip("/").split("/")[-1]
    metadata = model_card_metadata(name, dataset_name, results, base_model)
    rows = "\n".join(f"| {key} | {value:.4g} |" for key, value in sorted(results.items()) if _is_number(value))
    table = f"| metric | value |\n|---|---|\n{rows}" if rows else "No evaluation was recorded with this checkpoint."
    usage = USAGE.format(path=model_id) if base_model is None else ADAPTER_USAGE.format(path=model_id, base=base_model)
    sizes = ", ".join(f"{split}: {count} clips" for split, count in split_sizes.items())
    card = f"""---
{yaml.safe_dump(metadata, sort_keys=False).strip()}
---

# {name}

An Echo speech recogniser: an encoder-decoder that hears 128-bin log-mels and the raw
waveform (blended by a learnable sigmoid) and treats zeros (silence, padding, token id 0) as information.
Trained with `echo-train` (`Seq2SeqTrainer`, generation-based evaluation). WER and CER are computed after
`echo_hf.training.text_normalization.normalize_text` on both sides.

## Results

{table}

## Usage

{usage}
## Training data

{f"`{dataset_name}` ({sizes})." if dataset_name else "Not recorded with this checkpoint."}

## Training configuration

```json
{json.dumps(training_config, indent=2)}
```

## Model configuration

```json
{json.dumps(model_config, indent=2)}
```
"""
    path = output_dir / CARD
    path.write_text(card)
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------ sharing


def load_model_folder(model_dir: str | Path):
    """The model and processor saved in `model_dir`, with a clear error when the processor files are missing."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file() and (model_dir / "adapter_config.json").is_file():
        raise ValueError(
            f"{str(model_dir)!r} is a LoRA adapter, not a model: share its merged model (`<output_dir>/merged`, "
            'written with `"merge": true`), or push the base model first and upload the adapter folder beside it.'
        )
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{str(model_dir)!r} holds no config.json: pass the folder `save_pretrained` wrote.")
    for part, names in PROCESSOR_FILES.items():
        if not any((model_dir / name).is_file() for name in names):
            raise ValueError(
                f"{str(model_dir)!r} has no {part} ({' or '.join(names)}): the processor was not saved with the "
                "model. Save it with `processor.save_pretrained(model_dir)`."
            )
    return AutoModelForSpeechSeq2Seq.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)


def save_for_sharing(model, processor, output_dir: str | Path, model_id: str | None = None, card: str | None = None):
    """Write the shareable folder for `model` and `processor` to `output_dir` and return its path.

    `card` is the text of an existing model card (e.g. the one training wrote); without it a card is written from
    the model config. `model_id` (the Hub repo id) is what the card's usage snippet loads.
    """
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    missing = [name for name in MODEL_FILES if not (output_dir / name).is_file()]
    if missing:  # transformers decides what to copy by reading imports: fail here, not in a user's fresh process
        raise RuntimeError(f"save_pretrained did not copy {missing} to {output_dir}: remote code would not load.")
    if card is not None:
        (output_dir / CARD).write_text(card)
    else:
        write_model_card(output_dir, None, {}, {}, {}, model.config.to_diff_dict(), model_id=model_id)
    return output_dir


def push_to_hub(
    model_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None, commit_message: str = ""
) -> str:
    """Upload the model saved in `model_dir` to `repo_id` as one commit; returns the commit URL.

    The model card saved in `model_dir` (the training run's) is kept, its local path replaced by `repo_id`.
    """
    model_dir = Path(model_dir)
    model, processor = load_model_folder(model_dir)
    card = None
    if (model_dir / CARD).is_file():
        # The training card names the local folder (usage snippet, title); on the Hub it is the repository.
        card = (model_dir / CARD).read_text().replace(str(model_dir), repo_id)
        card = card.replace(f"\n# {model_dir.name}\n", f"\n# {repo_id.split('/')[-1]}\n", 1)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        folder = save_for_sharing(model, processor, Path(staging) / "model", model_id=repo_id, card=card)
        for extra in ("all_results.json", "training_config.json", "training_curves.png"):
            if (model_dir / extra).is_file():  # the training run's evidence travels with the card that cites it
                shutil.copy(model_dir / extra, folder / extra)
        # One commit of every file (what `upload_folder` sends, without its extra round trips).
        operations = [
            CommitOperationAdd(path_in_repo=path.relative_to(folder).as_posix(), path_or_fileobj=str(path))
            for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        ]
        commit = api.create_commit(repo_id, operations, commit_message=commit_message or f"Upload Echo model {repo_id}")
    return str(getattr(commit, "commit_url", commit))


__all__ = ["load_model_folder", "model_card_metadata", "push_to_hub", "save_for_sharing", "write_model_card"]
