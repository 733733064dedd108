"""Train Echo with `Seq2SeqTrainer` from one JSON config: `echo-train configs/train_tiny.json`.

Works unchanged under `torchrun --nproc_per_node N` and `accelerate launch`. At the end the output folder holds the
model, the processor (feature extractor + tokenizer), a model card, `all_results.json` and `training_curves.png`.
With a `lora` section the model is a peft LoRA adapter of the saved model it fine-tunes (`training/lora.py`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import (
    AutoModelForSpeechSeq2Seq,
    AutoProcessor,
    AutoTokenizer,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from ..configuration_echo import EchoConfig
from ..feature_extraction_echo import EchoFeatureExtractor
from ..hub import write_model_card
from ..modeling_echo import EchoForConditionalGeneration
from ..processing_echo import EchoProcessor
from .augmentation import AugmentationEpochCallback, ClipAugmenter, index_for_augmentation
from .baselines import WHISPER_FEATURE_KWARGS, build_whisper, is_whisper, whisper_feature_extractor
from .callbacks import LearnedWeightsCallback, TimeLimitCallback
from .data_collator import EchoSpeechCollator
from .lora import MERGED_DIR, add_lora, base_model_name, count_parameters, save_merged
from .metrics import build_compute_metrics
from .plots import plot_training_curves
from .run_config import EchoTrainingConfig
from .speech_datasets import LENGTH, TEXT, add_audio_lengths, add_labels, load_speech_dataset
from .text_normalization import normalize_text
from .tokenization_echo import build_tokenizer, check_tokenizer_matches

logger = logging.get_logger(__name__)

RESULTS_FILE = "all_results.json"
CURVES_FILE = "training_curves.png"
CONFIG_FILE = "training_config.json"


def training_arguments(config: EchoTrainingConfig) -> Seq2SeqTrainingArguments:
    """`Seq2SeqTrainingArguments` from the config's `training_args`, with the precision flags and Echo's needs."""
    fields = {field.name for field in dataclasses.fields(Seq2SeqTrainingArguments)}
    unknown = sorted(set(config.training_args) - fields)
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in `training_args`: they are not arguments of Seq2SeqTrainingArguments."
        )
    values = {
        "predict_with_generate": True,
        "label_names": ["labels"],
        "dataloader_pin_memory": torch.cuda.is_available(),
        "length_column_name": LENGTH,
        **config.training_args,
    }
    # The collator reads the raw `audio` column, which the model's forward does not name: keep it.
    values["remove_unused_columns"] = False
    precision = config.precision
    if precision == "auto":
        if torch.cuda.is_available():
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "fp32"
    values["bf16"], values["fp16"] = precision == "bf16", precision == "fp16"
    if "use_cpu" not in values and not torch.cuda.is_available() and torch.distributed.is_torchelastic_launched():
        # Under torchrun / accelerate launch without a GPU, only `use_cpu` makes the Trainer run CPU DDP (gloo).
        values["use_cpu"] = True
    return Seq2SeqTrainingArguments(**values)


def resolve_checkpoint(resume: str | bool | None, output_dir: str) -> str | None:
    """A checkpoint folder from `resume_from_checkpoint`: a path, or `true` for the latest one in `output_dir`."""
    if resume in (None, False):
        return None
    if resume is True or resume == "true":
        checkpoint = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        if checkpoint is None:
            raise ValueError(f"resume_from_checkpoint=true but {output_dir!r} holds no checkpoint-* folder.")
        return checkpoint
    if not Path(resume).is_dir():
        raise ValueError(f"resume_from_checkpoint {resume!r} is not a checkpoint folder.")
    return str(resume)


def build_processor(
    config: EchoTrainingConfig, args: Seq2SeqTrainingArguments, train_texts: list[str], checkpoint: str | None
) -> EchoProcessor:
    """The processor: from the checkpoint when resuming, else from the model folder, a tokenizer folder, or built."""
    if checkpoint is not None:
        return AutoProcessor.from_pretrained(checkpoint)
    model_dir = Path(config.model).is_dir()
    if config.tokenizer == "model":
        if not model_dir:
            raise ValueError(
                f"tokenizer: 'model' needs a saved model folder, but model is {config.model!r}: "
                "set tokenizer to 'build' or to a tokenizer folder."
            )
        return AutoProcessor.from_pretrained(config.model)
    if model_dir:
        feature_extractor = AutoProcessor.from_pretrained(config.model).feature_extractor
    elif is_whisper(values := json.loads(Path(config.model).read_text())):
        feature_extractor = whisper_feature_extractor(values)
    else:
        feature_extractor = EchoFeatureExtractor(feature_size=EchoConfig.from_json_file(config.model).num_mel_bins)
    if config.tokenizer != "build":
        return EchoProcessor(feature_extractor, AutoTokenizer.from_pretrained(config.tokenizer))
    # Every process must use the same vocabulary: the main process builds and saves it, the others load it.
    with args.main_process_first(desc="building the tokenizer"):
        if args.process_index == 0:
            tokenizer = build_tokenizer(train_texts, config.tokenizer_vocab_size)
            EchoProcessor(feature_extractor, tokenizer).save_pretrained(args.output_dir)
            logger.warning(f"Built a BPE tokenizer of {len(tokenizer)} tokens from {len(train_texts)} texts.")
        else:
            tokenizer = AutoTokenizer.from_pretrained(args.output_dir)
    return EchoProcessor(feature_extractor, tokenizer)


def build_model(config: EchoTrainingConfig, processor: EchoProcessor) -> EchoForConditionalGeneration:
    """A new model from a config JSON (vocab_size = len(tokenizer)) or a saved model to fine-tune. A JSON with
    `"model_type": "whisper"` builds the Whisper baseline (`baselines.py`)."""
    if Path(config.model).is_dir():
        model = AutoModelForSpeechSeq2Seq.from_pretrained(config.model)
    else:
        values = json.loads(Path(config.model).read_text())
        if is_whisper(values):
            model = build_whisper(values, len(processor.tokenizer))
        else:
            values["vocab_size"] = len(processor.tokenizer)
            model = EchoForConditionalGeneration(EchoConfig.from_dict(values))
    check_tokenizer_matches(processor.tokenizer, model.config.vocab_size, model.config.pad_token_id)
    if model.config.num_mel_bins != processor.feature_extractor.feature_size:
        raise ValueError(
            f"The model takes {model.config.num_mel_bins} mel bins but the feature extractor makes "
            f"{processor.feature_extractor.feature_size}: use matching feature_size / num_mel_bins."
        )
    return model


def select_split(data: datasets.DatasetDict, split: str, limit: int | None) -> datasets.Dataset:
    if split not in data:
        raise ValueError(f"Split {split!r} is not in the data; its splits are {list(data)}.")
    part = data[split]
    return part.select(range(min(limit, len(part)))) if limit is not None else part


def train(config: EchoTrainingConfig) -> dict[str, Any]:
    """Run the training described by `config`; returns the train, validation and test metrics."""
    args = training_arguments(config)
    if config.lora is not None and not Path(config.model).is_dir():
        raise ValueError(
            f"`lora` adapts a trained model, but model is {config.model!r}: set `model` to a saved model folder "
            "(or drop `lora` to train from a config)."
        )
    set_seed(args.seed)
    checkpoint = resolve_checkpoint(config.resume_from_checkpoint, args.output_dir)
    data = load_speech_dataset(config.data, config.audio_column, config.text_column, data_config=config.data_config)
    splits = {"train": select_split(data, config.train_split, config.max_train_samples)}
    if config.eval_split:
        splits["eval"] = select_split(data, config.eval_split, config.max_eval_samples)
    for prefix, name in config.test_splits().items():
        splits[prefix] = select_split(data, name, config.max_test_samples)

    texts = splits["train"][TEXT]
    processor = build_processor(
        config, args, [normalize_text(t) for t in texts] if config.normalize_text else list(texts), checkpoint
    )
    model = build_model(config, processor)
    if config.lora is not None:
        model = add_lora(model, config.lora)  # a PeftModel: only the adapters train
    if args.generation_max_length is None:
        # Else the Trainer's evaluation generates with transformers' default max_length=20 (filled into the unset
        # generation config): transcripts cut at 20 tokens, and WER/CER reported on the cut text.
        args.generation_max_length = model.config.max_target_positions
    splits = {
        name: add_labels(
            part,
            processor.tokenizer,
            model.config.max_target_positions,
            filter_long=config.filter_long,
            normalize=config.normalize_text,
            split=name,
        )
        for name, part in splits.items()
    }
    if args.train_sampling_strategy in ("group_by_length", "batch_rebalance"):
        # The Trainer's evaluation sampler groups by length too: every split needs the column.
        splits = {name: add_audio_lengths(part) for name, part in splits.items()}
    feature_kwargs = {"feature_kwargs": WHISPER_FEATURE_KWARGS} if model.config.model_type == "whisper" else {}
    callbacks, augment = [LearnedWeightsCallback()], None
    if config.augmentation is not None and config.augmentation.enabled:
        augment = ClipAugmenter(config.augmentation, processor.feature_extractor.sampling_rate)
        splits["train"] = index_for_augmentation(splits["train"])
        callbacks.append(AugmentationEpochCallback(augment))
    time_limit = TimeLimitCallback(config.max_train_minutes) if config.max_train_minutes else None
    if time_limit:
        callbacks.append(time_limit)
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=splits["train"],
        eval_dataset=splits.get("eval"),
        data_collator=EchoSpeechCollator(processor, augment=augment, **feature_kwargs),
        processing_class=processor,
        compute_metrics=build_compute_metrics(processor.tokenizer),
        callbacks=callbacks,
    )
    # Seq2SeqTrainer's evaluation fills the model's unset generation values with transformers' defaults, in place:
    # saved so, max_length=20 would cut every later transcript at 20 tokens. The model is saved with its own.
    # Restored on the Echo model itself: a PeftModel reads the wrapped model's attribute but would keep one set on it.
    echo_model = model.get_base_model() if config.lora is not None else model
    generation_config = copy.deepcopy(echo_model.generation_config)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    # A copy: the evaluations below fill it in place again, and a merged model is saved after them.
    echo_model.generation_config = copy.deepcopy(generation_config)
    trainer.save_model()  # model (or adapter, through peft's save_pretrained) + processor in output_dir
    trainer.save_state()
    metrics = dict(result.metrics)
    metrics["global_step"] = trainer.state.global_step
    metrics["trainable_parameters"], metrics["total_parameters"] = count_parameters(model)
    metrics["stopped_by_time_limit"] = bool(time_limit and time_limit.stopped)
    if "eval" in splits:
        metrics.update(final_evaluation(trainer))
    for prefix in config.test_splits():
        metrics.update(trainer.predict(splits[prefix], metric_key_prefix=prefix).metrics)
    trainer.log_metrics("all", metrics)
    if trainer.is_world_process_zero():
        split_sizes = {name: len(part) for name, part in splits.items()}
        base_model = base_model_name(model) if config.lora is not None else None
        write_outputs(config, trainer, metrics, split_sizes, base_model=base_model)
        if config.lora is not None and config.lora.merge:
            # Last, after every evaluation: merging replaces the adapter layers in the trained model itself.
            merged_dir = Path(args.output_dir) / MERGED_DIR
            save_merged(model, merged_dir, processor, generation_config)
            write_outputs(config, trainer, metrics, split_sizes, output_dir=merged_dir)
    return metrics


def final_evaluation(trainer: Seq2SeqTrainer) -> dict[str, float]:
    """Validation metrics of the final weights: those logged at the last step if any, else a new evaluation."""
    for entry in reversed(trainer.state.log_history):
        if "eval_wer" in entry:
            if entry["step"] == trainer.state.global_step:
                return {key: value for key, value in entry.items() if key.startswith("eval_")}
            break
    return trainer.evaluate()


def write_outputs(
    config: EchoTrainingConfig,
    trainer: Seq2SeqTrainer,
    metrics: dict[str, Any],
    split_sizes: dict[str, int],
    base_model: str | None = None,
    output_dir: str | Path | None = None,
) -> None:
    """Metrics JSON, loss/WER curves, the config and the model card, next to the saved model (in `output_dir`,
    by default the Trainer's). `base_model` is the model a LoRA adapter folder needs, named in its card."""
    output_dir = Path(output_dir or trainer.args.output_dir)
    (output_dir / RESULTS_FILE).write_text(json.dumps(metrics, indent=2))
    (output_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    plot_training_curves(trainer.state.log_history, output_dir / CURVES_FILE)
    write_model_card(
        output_dir,
        dataset_name=config.dataset_name or Path(config.data).name,
        results=metrics,
        split_sizes=split_sizes,
        training_config=config.to_dict(),
        model_config=trainer.model.config.to_diff_dict(),
        model_id=str(output_dir),
        base_model=base_model,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="echo-train", description=__doc__.split("\n")[0])
    parser.add_argument("config", help="training config JSON, e.g. configs/train_tiny.json")
    parser.add_argument(
        "--resume_from_checkpoint",
        "--resume-from-checkpoint",
        nargs="?",
        const=True,
        default=None,
        help="a checkpoint folder, or no value for the latest checkpoint in output_dir (overrides the config)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (`echo-train`): train from a config file; the metrics are logged and saved."""
    args = parse_args(argv)
    config = EchoTrainingConfig.from_json(args.config)
    if args.resume_from_checkpoint is not None:
        config.resume_from_checkpoint = args.resume_from_checkpoint
    train(config)


if __name__ == "__main__":
    main()
