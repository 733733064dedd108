"""The README.md model card saved with a trained Echo: Hub metadata, measured WER/CER, usage, data and config."""

import json
from pathlib import Path
from typing import Any

import yaml

USAGE = """\
```python
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline
import echo_hf  # registers "echo" with the Auto classes (or pass trust_remote_code=True)

model = AutoModelForSpeechSeq2Seq.from_pretrained("{path}")
processor = AutoProcessor.from_pretrained("{path}")
asr = pipeline("automatic-speech-recognition", model=model, tokenizer=processor.tokenizer,
               feature_extractor=processor.feature_extractor)
print(asr("speech.wav")["text"])
```
"""


def model_card_metadata(model_name: str, dataset_name: str, results: dict[str, float]) -> dict[str, Any]:
    """The YAML front matter the Hub reads: library, task, language, datasets and a model-index of results."""
    metrics = [
        {"type": name, "value": round(float(results[f"{split}_{name}"]), 4), "name": f"{name.upper()} ({split})"}
        for split in ("test", "eval")
        for name in ("wer", "cer")
        if f"{split}_{name}" in results
    ]
    return {
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "language": ["en"],
        "license": "apache-2.0",
        "tags": ["echo", "speech-recognition"],
        "datasets": [dataset_name],
        "metrics": ["wer", "cer"],
        "model-index": [
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
        ],
    }


def write_model_card(
    output_dir: str | Path,
    dataset_name: str,
    results: dict[str, float],
    split_sizes: dict[str, int],
    training_config: dict[str, Any],
    model_config: dict[str, Any],
) -> Path:
    """Write `output_dir/README.md` and return its path."""
    output_dir = Path(output_dir)
    metadata = model_card_metadata(output_dir.name, dataset_name, results)
    rows = "\n".join(f"| {key} | {value:.4g} |" for key, value in sorted(results.items()) if _is_number(value))
    sizes = ", ".join(f"{split}: {count} clips" for split, count in split_sizes.items())
    card = f"""---
{yaml.safe_dump(metadata, sort_keys=False).strip()}
---

# {output_dir.name}

An Echo speech recogniser: an encoder-decoder that hears 128-bin log-mels and the raw
waveform (blended by a learnable sigmoid) and treats zeros (silence, padding, token id 0) as information.
Trained with `echo-train` (`Seq2SeqTrainer`, generation-based evaluation). WER and CER are computed after
`echo_hf.text_normalization.normalize_text` on both sides.

## Results

| metric | value |
|---|---|
{rows}

## Usage

{USAGE.format(path=output_dir)}
## Training data

`{dataset_name}` ({sizes}).

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
