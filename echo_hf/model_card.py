"""The README.md model card saved with a trained Echo: Hub metadata, measured WER/CER, usage, data and config."""

import json
from pathlib import Path
from typing import Any

import yaml

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

model = AutoModelForSpeechSeq2Seq.from_pretrained("{path}")
processor = AutoProcessor.from_pretrained("{path}")
asr = pipeline("automatic-speech-recognition", model=model, tokenizer=processor.tokenizer,
               feature_extractor=processor.feature_extractor)
```
Command line: `echo-transcribe {path} speech.wav --format srt`.
"""


def model_card_metadata(model_name: str, dataset_name: str | None, results: dict[str, float]) -> dict[str, Any]:
    """The YAML front matter the Hub reads: library, task, language, datasets and a model-index of results."""
    metrics = [
        {"type": name, "value": round(float(results[f"{split}_{name}"]), 4), "name": f"{name.upper()} ({split})"}
        for split in ("test", "eval")
        for name in ("wer", "cer")
        if f"{split}_{name}" in results
    ]
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "language": ["en"],
        "license": "apache-2.0",
        "tags": ["echo", "speech-recognition"],
        "datasets": [dataset_name] if dataset_name else [],
        "metrics": ["wer", "cer"],
    }
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
) -> Path:
    """Write `output_dir/README.md` and return its path.

    `model_id` (a Hub repo id) is what the usage snippet loads; it defaults to `output_dir`. Unknown facts may be
    empty (`dataset_name=None`, `results={}`): the card then says so instead of inventing them.
    """
    output_dir = Path(output_dir)
    model_id = model_id or str(output_dir)
    name = model_id.rstrip("/").split("/")[-1]
    metadata = model_card_metadata(name, dataset_name, results)
    rows = "\n".join(f"| {key} | {value:.4g} |" for key, value in sorted(results.items()) if _is_number(value))
    table = f"| metric | value |\n|---|---|\n{rows}" if rows else "No evaluation was recorded with this checkpoint."
    sizes = ", ".join(f"{split}: {count} clips" for split, count in split_sizes.items())
    card = f"""---
{yaml.safe_dump(metadata, sort_keys=False).strip()}
---

# {name}

An Echo speech recogniser: an encoder-decoder that hears 128-bin log-mels and the raw
waveform (blended by a learnable sigmoid) and treats zeros (silence, padding, token id 0) as information.
Trained with `echo-train` (`Seq2SeqTrainer`, generation-based evaluation). WER and CER are computed after
`echo_hf.text_normalization.normalize_text` on both sides.

## Results

{table}

## Usage

{USAGE.format(path=model_id)}
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
    path = output_dir / "README.md"
    path.write_text(card)
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


__all__ = ["model_card_metadata", "write_model_card"]
