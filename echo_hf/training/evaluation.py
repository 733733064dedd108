"""WER/CER of a saved Echo model on a dataset split: `echo-evaluate MODEL DATA [--split test]`.

Data loads as in training (`load_speech_dataset`: a `save_to_disk` folder, an audiofolder or a Hub id). Writes a
JSON of the metrics and of every example's reference and hypothesis; `--group_by COLUMN` adds WER/CER for each value
of a column of the data (a speaker or voice column: which voices the model hears worst).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

from .data_collator import EchoSpeechCollator
from .metrics import load_echo_wer
from .speech_datasets import TEXT, load_speech_dataset


def evaluate_model(
    model_path: str,
    data: str,
    split: str = "test",
    audio_column: str = "audio",
    text_column: str = "text",
    data_config: str | None = None,
    batch_size: int = 16,
    num_beams: int = 1,
    max_samples: int | None = None,
    device: str | torch.device | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """Transcribe `split` of `data` with the model in `model_path` (batched `generate`); returns the metrics
    (`wer`, `cer`, `num_examples`, ...) and `examples`, a list of `{index, reference, hypothesis}`.

    With `group_by`, a column of the data, each example also carries its `group` (that column's value) and the
    report has `groups`: `{value: {"wer", "cer", "num_examples"}}`, sorted by value."""
    if group_by in (audio_column, text_column):
        raise ValueError(f"group_by={group_by!r} is the audio or text column; name another column (a speaker, say).")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = AutoModelForSpeechSeq2Seq.from_pretrained(model_path).to(device).eval()
    processor = AutoProcessor.from_pretrained(model_path)
    dataset = load_speech_dataset(
        data,
        audio_column,
        text_column,
        processor.feature_extractor.sampling_rate,
        data_config,
        keep_columns=[group_by] if group_by else [],
    )
    if split not in dataset:
        raise ValueError(f"Split {split!r} is not in {data!r}; its splits are {list(dataset)}.")
    dataset = dataset[split]
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=EchoSpeechCollator(processor))
    hypotheses = []
    for batch in tqdm(loader, desc=f"transcribing {split}", unit="batch"):
        batch = {key: value.to(device) for key, value in batch.items()}
        generated = model.generate(**batch, num_beams=num_beams)
        hypotheses.extend(processor.batch_decode(generated, skip_special_tokens=True))
    references = list(dataset[TEXT])
    metric = load_echo_wer(keep_in_memory=True)
    scores = metric.compute(predictions=hypotheses, references=references)
    examples = [
        {"index": index, "reference": reference, "hypothesis": hypothesis}
        for index, (reference, hypothesis) in enumerate(zip(references, hypotheses, strict=True))
    ]
    groups = {}
    if group_by:
        members = defaultdict(list)
        for example, value in zip(examples, dataset[group_by], strict=True):
            example["group"] = value
            members[value].append(example)
        for value in sorted(members, key=str):
            group_scores = metric.compute(
                predictions=[example["hypothesis"] for example in members[value]],
                references=[example["reference"] for example in members[value]],
            )
            groups[str(value)] = {**group_scores, "num_examples": len(members[value])}
    return {
        **scores,
        "num_examples": len(examples),
        "model": str(model_path),
        "data": str(data),
        "split": split,
        "num_beams": num_beams,
        **({"group_by": group_by, "groups": groups} if group_by else {}),
        "examples": examples,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="echo-evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved Echo model folder (model + processor)")
    parser.add_argument("data", help="a save_to_disk folder, an audiofolder or a Hub dataset id")
    parser.add_argument("--split", default="test")
    parser.add_argument("--audio_column", default="audio")
    parser.add_argument("--text_column", default="text")
    parser.add_argument("--data_config", default=None, help="configuration name of a Hub dataset")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_beams", type=int, default=1)
    parser.add_argument("--max_samples", type=int, default=None)
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--group_by", default=None, help="a column of the data: WER/CER for each of its values")
    parser.add_argument("--output", default=None, help="JSON to write (default: MODEL/eval_<split>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (`echo-evaluate`): print WER/CER and write the JSON report."""
    args = parse_args(argv)
    report = evaluate_model(
        args.model,
        args.data,
        split=args.split,
        audio_column=args.audio_column,
        text_column=args.text_column,
        data_config=args.data_config,
        batch_size=args.batch_size,
        num_beams=args.num_beams,
        max_samples=args.max_samples,
        device=args.device,
        group_by=args.group_by,
    )
    output = Path(args.output or Path(args.model) / f"eval_{args.split}.json")
    output.write_text(json.dumps(report, indent=2))
    scores = f"WER {report['wer']:.4f}  CER {report['cer']:.4f}  ({report['num_examples']} examples)"
    print(f"{args.split}: {scores} -> {output}")
    for value, group in report.get("groups", {}).items():
        print(f"  {args.group_by}={value}: WER {group['wer']:.4f}  CER {group['cer']:.4f}  ({group['num_examples']})")


if __name__ == "__main__":
    main()
