"""Every saved Echo folder is self-sufficient: training's output, a plain save_pretrained and what push_to_hub would
upload (captured at HfApi's network calls) build Echo's own pipeline with trust_remote_code=True alone, in a process
that never imports echo_hf, and transcribe identically."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from huggingface_hub import HfApi
from trained_echo import CHUNK_S, STRIDE_S, clips, recording, trained_echo
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, pipeline

from echo_hf import MODEL_FILES
from echo_hf.hub import load_model_folder, push_to_hub, write_model_card

REPO = "someone/echo-tiny"


def run_fresh(program: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `program` in a fresh Python, in `cwd`, without this process's PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [sys.executable, "-c", program]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, check=False)


def capture_hub(monkeypatch, folder: Path) -> list:
    """Replace HfApi's two network calls; the commit's files are written to `folder`."""
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id))
        return f"https://huggingface.co/{repo_id}"

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        calls.append(("create_commit", repo_id, commit_message))
        for operation in operations:
            target = folder / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            source = operation.path_or_fileobj
            target.write_bytes(source if isinstance(source, bytes) else Path(source).read_bytes())
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    return calls


@pytest.fixture(scope="module")
def training_folder(tmp_path_factory) -> Path:
    """What a training run leaves: model, processor and its model card."""
    model, processor = trained_echo()
    folder = tmp_path_factory.mktemp("run")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    write_model_card(folder, "four-clips", {"eval_wer": 0.0, "eval_cer": 0.0}, {"train": 4}, {"steps": 180}, {})
    return folder


def test_upload_loads_back_with_remote_code_alone_and_transcribes_identically(training_folder, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    calls = capture_hub(monkeypatch, hub)
    assert push_to_hub(training_folder, REPO).endswith("/commit/0")
    assert [call[0] for call in calls] == ["create_repo", "create_commit"]  # one repository, one commit
    uploaded = {path.name for path in hub.iterdir()}
    assert set(MODEL_FILES) | {"config.json", "generation_config.json", "model.safetensors", "README.md"} <= uploaded
    assert {"processor_config.json", "tokenizer.json", "tokenizer_config.json"} <= uploaded
    config = json.loads((hub / "config.json").read_text())
    assert config["custom_pipelines"]["automatic-speech-recognition"]["impl"] == (
        "pipeline_echo.EchoSpeechRecognitionPipeline"
    )
    assert "AutoModelForSpeechSeq2Seq" in config["auto_map"]

    audio, texts = clips()
    long_audio, long_text = recording([0, 1, 2, 3, 3, 2, 1, 0])
    arrays = tmp_path / "audio.npz"
    np.savez(arrays, long=long_audio, **{f"clip{i}": clip for i, clip in enumerate(audio)})
    program = textwrap.dedent(f"""
        import json, sys, numpy as np
        from transformers import pipeline
        asr = pipeline("automatic-speech-recognition", model={str(hub)!r}, trust_remote_code=True)
        arrays = np.load({str(arrays)!r})
        texts = [asr(arrays[f"clip{{i}}"])["text"] for i in range(4)]
        long = asr(arrays["long"], chunk_length_s={CHUNK_S}, stride_length_s={STRIDE_S}, return_timestamps=True)
        assert "echo_hf" not in sys.modules
        print(json.dumps({{"pipeline": type(asr).__name__, "texts": texts, "long": long}}))
    """)
    result = run_fresh(program, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])

    model, processor = trained_echo()
    local = pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
    )
    local_long = local(long_audio, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, return_timestamps=True)
    assert remote["pipeline"] == "EchoSpeechRecognitionPipeline"
    assert remote["texts"] == [local(clip)["text"] for clip in audio] == texts
    assert remote["long"]["text"] == local_long["text"] == long_text
    assert [tuple(chunk["timestamp"]) for chunk in remote["long"]["chunks"]] == [
        chunk["timestamp"] for chunk in local_long["chunks"]
    ]


def save_like_training(model, processor, folder: Path) -> None:
    """What `echo_hf.training.train` writes: `Seq2SeqTrainer.save_model` with the processor as the processing class."""
    args = Seq2SeqTrainingArguments(output_dir=str(folder), report_to=[], use_cpu=True)
    Seq2SeqTrainer(model=model, args=args, processing_class=processor).save_model()


def save_plainly(model, processor, folder: Path) -> None:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.mark.parametrize("save", [save_like_training, save_plainly], ids=["training", "save_pretrained"])
def test_saved_folder_builds_echos_pipeline_with_remote_code_alone(save, tmp_path):
    model, processor = trained_echo()
    folder = tmp_path / "model"
    save(model, processor, folder)
    assert set(MODEL_FILES) <= {path.name for path in folder.iterdir()}
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"]["automatic-speech-recognition"]["impl"] == (
        "pipeline_echo.EchoSpeechRecognitionPipeline"
    )
    assert not hasattr(model.config, "custom_pipelines")  # with echo_hf imported the task's pipeline is Echo's already

    audio, texts = clips()
    np.savez(tmp_path / "audio.npz", *audio)
    resaved = tmp_path / "resaved"
    # The fresh process also saves the pipeline it loaded: the folder that remote code writes carries the pipeline too.
    program = textwrap.dedent(f"""
        import json, sys, numpy as np
        from transformers import pipeline
        arrays = np.load({str(tmp_path / "audio.npz")!r})
        results = []
        for folder in ({str(folder)!r}, {str(resaved)!r}):
            asr = pipeline("automatic-speech-recognition", model=folder, trust_remote_code=True)
            texts = [asr(arrays[f"arr_{{i}}"])["text"] for i in range(4)]
            results.append([type(asr).__module__, type(asr).__name__, texts])
            if folder != {str(resaved)!r}:
                asr.save_pretrained({str(resaved)!r})
        assert "echo_hf" not in sys.modules
        print(json.dumps(results))
    """)
    result = run_fresh(program, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for module, name, transcripts in json.loads(result.stdout.strip().splitlines()[-1]):
        assert module.startswith("transformers_modules.") and module.endswith(".pipeline_echo")  # the folder's copy
        assert name == "EchoSpeechRecognitionPipeline"
        assert transcripts == texts


def test_model_folder_without_processor_tells_remote_code_what_to_save(tmp_path):
    model, _ = trained_echo()
    model.save_pretrained(tmp_path / "model")
    program = textwrap.dedent(f"""
        from transformers import pipeline
        pipeline("automatic-speech-recognition", model={str(tmp_path / "model")!r}, trust_remote_code=True)
    """)
    result = run_fresh(program, tmp_path)
    assert result.returncode != 0
    assert "ValueError: The Echo pipeline needs a feature extractor and a tokenizer" in result.stderr
    assert "processor.save_pretrained(folder)" in result.stderr


def test_model_card_follows_hub_conventions(training_folder, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    capture_hub(monkeypatch, hub)
    push_to_hub(training_folder, REPO)
    card = (hub / "README.md").read_text()
    _, front_matter, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front_matter)
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "automatic-speech-recognition"
    assert metadata["language"] == ["en"] and metadata["license"] == "apache-2.0"
    (result,) = metadata["model-index"][0]["results"]
    assert {"type": "wer", "value": 0.0, "name": "WER (eval)"} in result["metrics"]
    assert f'model="{REPO}", trust_remote_code=True' in body and str(training_folder) not in body
    assert "## Training data" in body and "## Training configuration" in body


def test_model_index_names_every_test_split():
    from echo_hf.hub import model_card_metadata

    results = {"test_wer": 0.4, "test_cer": 0.2, "test_held_out_voices_wer": 0.9, "eval_wer": 0.5, "eval_loss": 1.0}
    (result,) = model_card_metadata("echo", "echo-corpus", results)["model-index"][0]["results"]
    assert [(metric["name"], metric["value"]) for metric in result["metrics"]] == [
        ("WER (test)", 0.4),
        ("CER (test)", 0.2),
        ("WER (test held_out_voices)", 0.9),
        ("WER (eval)", 0.5),
    ]


def test_card_without_known_results_has_no_model_index(tmp_path):
    model, processor = trained_echo()
    folder = tmp_path / "bare"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)  # no card: the upload writes one from the config
    hub = tmp_path / "hub"
    with pytest.MonkeyPatch.context() as patch:
        capture_hub(patch, hub)
        push_to_hub(folder, REPO)
    metadata = yaml.safe_load((hub / "README.md").read_text().split("---\n", 2)[1])
    assert "model-index" not in metadata and metadata["pipeline_tag"] == "automatic-speech-recognition"


def test_model_folder_without_processor_is_a_clear_error(tmp_path):
    model, _ = trained_echo()
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no feature extractor.*processor.save_pretrained"):
        load_model_folder(tmp_path)
    with pytest.raises(ValueError, match="no config.json"):
        load_model_folder(tmp_path / "nowhere")
