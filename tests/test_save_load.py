"""save_pretrained -> from_pretrained gives the same model: in this process, and in a fresh one with remote code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from conftest import audio_inputs, tiny_model
from safetensors.torch import load_file
from transformers import AutoModelForSpeechSeq2Seq
from transformers.dynamic_module_utils import get_imports

import echo_hf
from echo_hf import MODEL_FILES, EchoFeatureExtractor, EchoProcessor, build_tokenizer


def saved_model(tmp_path: Path):
    model = tiny_model(seed=7)
    with torch.no_grad():  # move the learnable scalars off their init so a reload that re-initialises shows
        model.model.encoder.blend_logit.fill_(-0.3)
        model.model.decoder.layers[0].cross_gate.fill_(1.7)
    model.save_pretrained(tmp_path)
    return model


def test_saves_safetensors_only_with_tied_head_once(tmp_path):
    saved_model(tmp_path)
    files = set(os.listdir(tmp_path))
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    weights = load_file(tmp_path / "model.safetensors")
    assert "model.decoder.embed_tokens.weight" in weights and "proj_out.weight" not in weights
    assert "model.encoder.embed_positions" not in weights  # fixed sinusoids are rebuilt, not stored


def test_reload_gives_identical_outputs(tmp_path):
    model = saved_model(tmp_path)
    loaded = AutoModelForSpeechSeq2Seq.from_pretrained(tmp_path).eval()
    assert loaded.proj_out.weight.data_ptr() == loaded.model.decoder.embed_tokens.weight.data_ptr()
    inputs = audio_inputs([1.0, 0.6])
    ids = torch.tensor([[0, 5, 9, 3], [0, 2, 0, 0]])
    torch.testing.assert_close(
        loaded(**inputs, decoder_input_ids=ids).logits, model(**inputs, decoder_input_ids=ids).logits, rtol=0, atol=0
    )
    assert torch.equal(loaded.generate(**inputs, max_new_tokens=6), model.generate(**inputs, max_new_tokens=6))


def test_fresh_process_loads_with_remote_code_alone(tmp_path):
    model = saved_model(tmp_path)
    tokenizer = build_tokenizer(["hello world", "echo hears silence"], vocab_size=300, min_frequency=1)
    EchoProcessor(EchoFeatureExtractor(), tokenizer).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSpeechSeq2Seq"] == "modeling_echo.EchoForConditionalGeneration"

    audio = torch.randn(16000, generator=torch.Generator().manual_seed(3)).numpy() * 0.1
    processor = EchoProcessor(EchoFeatureExtractor(), tokenizer)
    inputs = processor(audio=audio, sampling_rate=16000, return_tensors="pt")
    expected = model.generate(**inputs, max_new_tokens=6)
    torch.save(dict(inputs), tmp_path / "inputs.pt")

    script = f"""
import sys, torch
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor
model = AutoModelForSpeechSeq2Seq.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
assert "echo_hf" not in sys.modules, "the remote code must stand alone"
inputs = torch.load({str(tmp_path / "inputs.pt")!r})
fresh = processor(audio=inputs["waveform"][0].numpy(), sampling_rate=16000, return_tensors="pt")
assert all(torch.equal(fresh[k], inputs[k]) for k in inputs)
print(model.generate(**inputs, max_new_tokens=6).tolist())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd="/", capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected.tolist()


def test_the_model_files_are_the_packages_top_level_and_exactly_what_a_save_copies(tmp_path):
    # The layout's rule (echo_hf/__init__.py): the top level holds what travels with a model, plus hub.py and
    # transcribe.py. A save of model and processor copies exactly MODEL_FILES.
    package = Path(echo_hf.__file__).parent
    top_level = {path.name for path in package.glob("*.py")} - {"__init__.py", "hub.py", "transcribe.py"}
    assert top_level == set(MODEL_FILES)
    saved_model(tmp_path)
    tokenizer = build_tokenizer(["hello world"], vocab_size=300, min_frequency=1)
    EchoProcessor(EchoFeatureExtractor(), tokenizer).save_pretrained(tmp_path)
    assert {path.name for path in tmp_path.glob("*.py")} == set(MODEL_FILES)


def test_remote_code_asks_only_for_the_packages_core_requirements():
    # transformers refuses a saved folder's code when an import it finds outside try blocks is not installed: an
    # optional extra's package (onnxruntime for `vad_threshold`) must stay inside one.
    package = Path(echo_hf.__file__).parent
    third_party = {name for file in MODEL_FILES for name in get_imports(str(package / file))} - set(
        sys.stdlib_module_names
    )
    assert third_party <= {"numpy", "torch", "transformers", "huggingface_hub", "librosa", "soundfile"}
