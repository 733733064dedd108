"""echo-train end to end on a tiny on-disk DatasetDict: outputs, reload, resume, torchrun and accelerate, errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file
from speech_fixtures import save_speech_dataset, write_model_config, write_train_config
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

import echo_hf  # noqa: F401  (registers "echo" with the Auto classes)
from echo_hf.training.evaluation import evaluate_model
from echo_hf.training.metrics import load_echo_wer
from echo_hf.training.speech_datasets import add_labels, load_speech_dataset
from echo_hf.training.train import main


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("training")
    save_speech_dataset(root / "data")
    write_model_config(root / "model.json", dropout=0.1)
    return root


@pytest.fixture(scope="module")
def trained(workdir) -> Path:
    """One run with validation during training and two test splits at the end."""
    output = workdir / "run"
    config = write_train_config(
        workdir / "train.json",
        workdir / "model.json",
        workdir / "data",
        output,
        training_args={"eval_strategy": "steps", "eval_steps": 2, "train_sampling_strategy": "group_by_length"},
        test_split=["test", "held_out_voices"],
    )
    main([str(config)])
    return output


def test_run_saves_model_processor_card_metrics_and_curves(trained):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "processor_config.json", "README.md"):
        assert (trained / name).is_file(), name
    # Self-sufficient for `pipeline(..., trust_remote_code=True)` (tests/test_sharing.py runs one on such a folder).
    config = json.loads((trained / "config.json").read_text())
    assert config["custom_pipelines"]["automatic-speech-recognition"]["impl"].startswith("pipeline_echo.")
    for name in ("pipeline_echo.py", "audio_loading.py", "chunk_merge.py"):
        assert (trained / name).is_file(), name
    results = json.loads((trained / "all_results.json").read_text())
    assert results["global_step"] == 4
    for key in ("train_loss", "eval_loss", "eval_wer", "eval_cer", "test_wer", "test_cer", "test_held_out_voices_wer"):
        assert isinstance(results[key], float), key
    # The same clips under two split names: the same transcripts.
    assert results["test_held_out_voices_wer"] == results["test_wer"]
    assert (trained / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (trained / "README.md").read_text()
    metadata = card.split("---")[1]
    for line in (
        "library_name: transformers",
        "pipeline_tag: automatic-speech-recognition",
        "- en",
        f"value: {round(results['test_wer'], 4)}",
    ):
        assert line in metadata, line
    assert "AutoModelForSpeechSeq2Seq.from_pretrained" in card
    history = json.loads((trained / "trainer_state.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "eval_wer" in entry][:2] == [2, 4]
    # The learned mixing weights are logged with every training loss (and plotted in training_curves.png).
    logged = [entry for entry in history if "loss" in entry]
    model = AutoModelForSpeechSeq2Seq.from_pretrained(trained)
    assert all(0 < entry["view_blend"] < 1 and "cross_gate_layer_1" in entry for entry in logged)
    assert logged[-1]["view_blend"] == pytest.approx(torch.sigmoid(model.model.encoder.blend_logit).item())


def test_evaluation_during_training_leaves_the_saved_model_its_full_transcript_length(trained):
    # The Trainer's evaluation writes transformers' default max_length=20 into an unset generation config.
    saved = json.loads((trained / "generation_config.json").read_text())
    assert "max_length" not in saved and "max_new_tokens" not in saved, saved
    # and that evaluation itself generates up to the decoder's length, not to that default
    args = torch.load(trained / "training_args.bin", weights_only=False)
    assert args.generation_max_length == json.loads((trained / "config.json").read_text())["max_target_positions"]


def test_saved_run_reloads_and_evaluates_to_the_reported_wer(trained, workdir):
    model = AutoModelForSpeechSeq2Seq.from_pretrained(trained)
    processor = AutoProcessor.from_pretrained(trained)
    assert type(model).__name__ == "EchoForConditionalGeneration"
    assert model.config.vocab_size == len(processor.tokenizer)
    report = evaluate_model(str(trained), str(workdir / "data"), split="test", batch_size=3)
    results = json.loads((trained / "all_results.json").read_text())
    assert report["wer"] == pytest.approx(results["test_wer"])
    assert report["cer"] == pytest.approx(results["test_cer"])
    assert len(report["examples"]) == 4 and report["examples"][0]["reference"] == "hello world"


def test_evaluation_grouped_by_a_column_scores_each_group_as_its_own_split(trained, workdir):
    data = datasets.load_from_disk(str(workdir / "data"))
    speakers = ["ann", "bob", "ann", "bob"]
    grouped = datasets.DatasetDict({"test": data["test"].add_column("speaker", speakers)})
    grouped.save_to_disk(str(workdir / "grouped"))
    report = evaluate_model(str(trained), str(workdir / "grouped"), split="test", batch_size=3, group_by="speaker")
    assert list(report["groups"]) == ["ann", "bob"]
    assert [example["group"] for example in report["examples"]] == speakers
    metric = load_echo_wer(keep_in_memory=True)
    for speaker, group in report["groups"].items():
        members = [example for example in report["examples"] if example["group"] == speaker]
        expected = metric.compute(
            predictions=[example["hypothesis"] for example in members],
            references=[example["reference"] for example in members],
        )
        assert group == {**expected, "num_examples": 2}
    # the grouping changes no transcript and no overall score
    plain = evaluate_model(str(trained), str(workdir / "grouped"), split="test", batch_size=3)
    assert (plain["wer"], plain["cer"]) == (report["wer"], report["cer"])
    with pytest.raises(ValueError, match="'accent' is not a column of split 'test'.*'speaker'"):
        evaluate_model(str(trained), str(workdir / "grouped"), split="test", group_by="accent")
    with pytest.raises(ValueError, match="group_by='text' is the audio or text column"):
        evaluate_model(str(trained), str(workdir / "grouped"), split="test", group_by="text")


def test_resume_from_checkpoint_continues_to_identical_weights(workdir):
    """A run stopped after its step-2 checkpoint and resumed ends exactly where an uninterrupted run ends."""
    common = {"eval_split": None, "test_split": None}
    full = write_train_config(
        workdir / "full.json", workdir / "model.json", workdir / "data", workdir / "full", **common
    )
    main([str(full)])
    resumed_dir = workdir / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(workdir / "full" / "checkpoint-2", resumed_dir / "checkpoint-2")
    resumed = write_train_config(
        workdir / "resumed.json", workdir / "model.json", workdir / "data", resumed_dir, **common
    )
    main([str(resumed), "--resume_from_checkpoint"])  # no value: the latest checkpoint in output_dir

    state = json.loads((resumed_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    losses = {
        name: [
            entry["loss"]
            for entry in json.loads((workdir / name / "trainer_state.json").read_text())["log_history"]
            if "loss" in entry
        ]
        for name in ("full", "resumed")
    }
    assert len(losses["full"]) == 4 and losses["resumed"] == losses["full"]
    full_weights = load_file(workdir / "full" / "model.safetensors")
    resumed_weights = load_file(resumed_dir / "model.safetensors")
    assert full_weights.keys() == resumed_weights.keys()
    for name, tensor in full_weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor, rtol=0, atol=0, msg=name)
    # the resumed run really trained: its weights moved away from the checkpoint it started from
    start = load_file(workdir / "full" / "checkpoint-2" / "model.safetensors")
    assert not torch.equal(
        start["model.decoder.embed_tokens.weight"], full_weights["model.decoder.embed_tokens.weight"]
    )


# accelerate's `--multi_gpu` is what starts several processes (gloo on a CPU-only machine); its `--cpu` flag
# would run a single process unless MPI is set up.
LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--nproc_per_node", "2"],
    "accelerate": [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
    ],
}  # fmt: skip


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_cpu_processes_under_each_launcher(workdir, launcher):
    output = workdir / f"ddp-{launcher}"
    config = write_train_config(
        workdir / f"ddp-{launcher}.json",
        workdir / "model.json",
        workdir / "data",
        output,
        eval_split=None,
        training_args={"max_steps": 2, "save_steps": 2},
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, *LAUNCHERS[launcher], "-m", "echo_hf.training.train"]
    result = subprocess.run([*command, str(config)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((output / "all_results.json").read_text())
    # 4 clips, 2 per device: with 2 processes one step is a whole epoch (it would be half an epoch alone)
    assert results["global_step"] == 2 and results["epoch"] == pytest.approx(2.0)
    assert "test_wer" in results and (output / "model.safetensors").is_file()


def test_unknown_config_key_is_named(workdir):
    config = write_train_config(workdir / "bad.json", workdir / "model.json", workdir / "data", workdir / "x", lr=1)
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['lr'\]"):
        main([str(config)])
    config = write_train_config(
        workdir / "bad.json", workdir / "model.json", workdir / "data", workdir / "x", training_args={"lr": 1}
    )
    with pytest.raises(ValueError, match=r"\['lr'\] in `training_args`"):
        main([str(config)])


@pytest.mark.parametrize("test_split", [["test", "test"], ["test", ""], [3]])
def test_bad_test_split_list_is_named(workdir, test_split):
    config = write_train_config(
        workdir / "bad.json", workdir / "model.json", workdir / "data", workdir / "x", test_split=test_split
    )
    with pytest.raises(ValueError, match="`test_split` must be a split name or a list of distinct ones"):
        main([str(config)])


def test_missing_column_lists_the_available_ones(workdir):
    config = write_train_config(
        workdir / "bad.json", workdir / "model.json", workdir / "data", workdir / "x", text_column="sentence"
    )
    with pytest.raises(ValueError, match=r"'sentence'.*\['audio', 'text'\]"):
        main([str(config)])


def test_other_column_names_train(workdir):
    save_speech_dataset(workdir / "renamed", audio_column="speech", text_column="transcript")
    config = write_train_config(
        workdir / "renamed.json",
        workdir / "model.json",
        workdir / "renamed",
        workdir / "renamed_run",
        audio_column="speech",
        text_column="transcript",
        eval_split=None,
        test_split=None,
        training_args={"max_steps": 1},
    )
    main([str(config)])
    assert json.loads((workdir / "renamed_run" / "all_results.json").read_text())["global_step"] == 1


def test_long_transcript_is_named_or_filtered(workdir):
    # with a 256-byte vocabulary "zeros are information" is 21 tokens + end of text: one more than 21 positions
    model = write_model_config(workdir / "short.json", max_target_positions=21)
    common = {"tokenizer_vocab_size": 257, "eval_split": None, "test_split": None, "training_args": {"max_steps": 1}}
    config = write_train_config(workdir / "long.json", model, workdir / "data", workdir / "long", **common)
    with pytest.raises(ValueError, match=r"Example 2 of split 'train' has 22 label tokens.*\(1 such.*filter_long"):
        main([str(config)])
    config = write_train_config(
        workdir / "long.json", model, workdir / "data", workdir / "long", filter_long=True, **common
    )
    main([str(config)])
    assert json.loads((workdir / "long" / "all_results.json").read_text())["global_step"] == 1
    tokenizer = AutoProcessor.from_pretrained(workdir / "long").tokenizer
    train = load_speech_dataset(str(workdir / "data"))["train"]
    kept = add_labels(train, tokenizer, max_target_positions=21, filter_long=True)
    assert kept["text"] == ["hello world", "echo hears silence", "good morning to you"]
    assert all(row[-1] == 0 for row in kept["labels"])


def test_augmented_run_trains_on_augmented_clips_and_records_its_settings(workdir):
    pytest.importorskip("audiomentations")
    pytest.importorskip("pyroomacoustics")
    section = {"seed": 2, "speed": {"p": 1.0}, "reverb": {"p": 0.5}, "noise": {"p": 0.5, "snr_db": [10, 20]}}
    runs = {}
    for name, augmentation in (("plain", None), ("augmented", section)):
        extra = {"augmentation": augmentation} if augmentation else {}
        config = write_train_config(
            workdir / f"{name}.json",
            workdir / "model.json",
            workdir / "data",
            workdir / f"{name}_run",
            eval_split=None,
            test_split=None,
            training_args={"max_steps": 2},
            **extra,
        )
        main([str(config)])
        runs[name] = json.loads((workdir / f"{name}_run" / "all_results.json").read_text())
    saved = json.loads((workdir / "augmented_run" / "training_config.json").read_text())
    assert saved["augmentation"] == {  # the default ranges filled in
        "seed": 2,
        "speed": {"p": 1.0, "factor": [0.9, 1.1]},
        "reverb": {"p": 0.5, "rt60_s": [0.2, 0.8]},
        "noise": {"p": 0.5, "snr_db": [10.0, 20.0]},
    }
    # Same seed, same data, same steps: only the augmented clips make the losses differ.
    assert runs["augmented"]["train_loss"] != runs["plain"]["train_loss"]


def test_whisper_baseline_trains_with_the_same_script(workdir):
    # Matched to the tiny Echo preset's width, depth and heads; 5 s of input covers the longest clip.
    values = {"model_type": "whisper", "num_mel_bins": 128, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2}
    values |= {"encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64}
    values |= {"max_source_positions": 250, "max_target_positions": 32}
    values |= {"apply_spec_augment": True, "mask_time_prob": 0.05, "mask_feature_prob": 0.05}
    (workdir / "whisper.json").write_text(json.dumps(values))
    output = workdir / "whisper_run"
    config = write_train_config(
        workdir / "whisper_train.json", workdir / "whisper.json", workdir / "data", output, eval_split=None
    )
    main([str(config)])
    results = json.loads((output / "all_results.json").read_text())
    assert results["global_step"] == 4 and isinstance(results["test_wer"], float)
    model = AutoModelForSpeechSeq2Seq.from_pretrained(output)
    assert type(model).__name__ == "WhisperForConditionalGeneration"
    assert model.config.vocab_size == len(AutoProcessor.from_pretrained(output).tokenizer)
    assert model.config.decoder_start_token_id == 0 and model.config.eos_token_id == 0


def test_whisper_baseline_refuses_a_clip_longer_than_its_input(workdir):
    values = {"model_type": "whisper", "num_mel_bins": 128, "d_model": 32, "encoder_layers": 1, "decoder_layers": 1}
    values |= {"encoder_attention_heads": 4, "decoder_attention_heads": 4, "max_source_positions": 50}
    (workdir / "whisper_short.json").write_text(json.dumps(values))
    config = write_train_config(
        workdir / "whisper_short_train.json",
        workdir / "whisper_short.json",
        workdir / "data",
        workdir / "ws",
        eval_split=None,
        test_split=None,
    )
    with pytest.raises(ValueError, match=r"clip is longer than the model's fixed input of 1 s, and would be cut"):
        main([str(config)])
