"""LoRA fine-tuning with peft: an adapter trains under echo-train's Seq2SeqTrainer, saves, reloads, merges exactly."""

import json
from pathlib import Path

import pytest
import torch
from conftest import audio_inputs, tiny_config, tiny_model
from peft import PeftModel
from safetensors.torch import load_file
from speech_fixtures import SPEECH, save_speech_dataset, write_train_config
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

from echo_hf import EchoFeatureExtractor, EchoForConditionalGeneration, EchoProcessor, build_tokenizer
from echo_hf.hub import load_model_folder
from echo_hf.training.lora import (
    MERGED_DIR,
    MODULE_NAMES,
    TARGET_MODULE_GROUPS,
    EchoLoraConfig,
    add_lora,
    count_parameters,
    expand_target_modules,
)
from echo_hf.training.run_config import EchoTrainingConfig
from echo_hf.training.train import main

LORA = {"r": 4, "alpha": 8, "target_modules": ["attention", "feed_forward", "front_ends"], "merge": True}
DECODER_IDS = torch.tensor([[0, 5, 6, 7, 8], [0, 9, 10, 11, 3]])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The four speech clips as a DatasetDict, and a saved base model (tiny, random) with its processor."""
    root = tmp_path_factory.mktemp("lora")
    save_speech_dataset(root / "data")
    texts = list(json.loads((SPEECH / "transcripts.json").read_text()).values())
    processor = EchoProcessor(EchoFeatureExtractor(), build_tokenizer(texts, vocab_size=300, min_frequency=1))
    torch.manual_seed(0)
    base = EchoForConditionalGeneration(tiny_config(vocab_size=len(processor.tokenizer), max_target_positions=32))
    base.save_pretrained(root / "base")
    processor.save_pretrained(root / "base")
    return root


@pytest.fixture(scope="module")
def adapter_run(workdir) -> Path:
    """echo-train with a `lora` section: 4 steps, evaluation by generation at steps 2 and 4, then the test split."""
    config = write_train_config(
        workdir / "lora.json",
        workdir / "base",
        workdir / "data",
        workdir / "run",
        tokenizer="model",
        lora=LORA,
        training_args={"eval_strategy": "steps", "eval_steps": 2, "learning_rate": 1e-2},
    )
    main([str(config)])
    return workdir / "run"


def base_model(workdir) -> EchoForConditionalGeneration:
    return AutoModelForSpeechSeq2Seq.from_pretrained(workdir / "base").eval()


def outputs(model, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for fixed decoder ids and greedy tokens for two clips of random audio."""
    inputs = audio_inputs([1.0, 0.7], seed=seed)
    with torch.no_grad():
        logits = model(**inputs, decoder_input_ids=DECODER_IDS).logits
        tokens = model.generate(**inputs, max_new_tokens=8)
    return logits, tokens


def test_run_saves_an_adapter_with_the_processor_and_a_card_naming_its_base(adapter_run, workdir):
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "processor_config.json"):
        assert (adapter_run / name).is_file(), name
    assert not (adapter_run / "model.safetensors").exists()  # an adapter, not a copy of the base
    adapter_config = json.loads((adapter_run / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(workdir / "base")
    assert adapter_config["r"] == 4 and adapter_config["lora_alpha"] == 8
    assert set(adapter_config["target_modules"]) == {
        module for group in TARGET_MODULE_GROUPS.values() for module in group
    }
    card = (adapter_run / "README.md").read_text()
    metadata = card.split("---")[1]
    # a local base is named in the card's text; the Hub's `base_model` field takes repo ids only
    assert "library_name: peft" in metadata and "base_model" not in metadata
    assert "LoRA adapter" in card and "PeftModel.from_pretrained" in card and str(workdir / "base") in card
    with pytest.raises(ValueError, match="is a LoRA adapter, not a model"):
        load_model_folder(adapter_run)
    results = json.loads((adapter_run / "all_results.json").read_text())
    assert results["global_step"] == 4 and isinstance(results["test_wer"], float)
    assert 0 < results["trainable_parameters"] < results["total_parameters"] / 5
    # the Trainer's evaluation did not write its max_length=20 into the merged model's generation config
    assert "max_length" not in json.loads((adapter_run / MERGED_DIR / "generation_config.json").read_text())


def test_only_the_adapters_trained_and_the_merge_adds_exactly_their_update(adapter_run, workdir):
    """Merged weights = base weights outside the targets, base + (alpha / r) B A inside them: the base never moved."""
    base = load_file(workdir / "base" / "model.safetensors")
    merged = load_file(adapter_run / MERGED_DIR / "model.safetensors")
    adapter = load_file(adapter_run / "adapter_model.safetensors")
    assert adapter and all("lora_A" in key or "lora_B" in key for key in adapter)
    assert all(tensor.abs().max() > 0 for key, tensor in adapter.items() if "lora_B" in key)  # B starts at 0
    scaling = LORA["alpha"] / LORA["r"]
    targets = 0
    for key, weight in base.items():
        prefix = "base_model.model." + key.removesuffix(".weight")
        if key.endswith(".weight") and f"{prefix}.lora_A.weight" in adapter:
            a, b = adapter[f"{prefix}.lora_A.weight"], adapter[f"{prefix}.lora_B.weight"]
            # linear: (out, r) @ (r, in); conv: the 1x1 B conv after the A conv -> (out, in, kernel)
            update = b @ a if weight.dim() == 2 else torch.einsum("or,rik->oik", b[..., 0], a)
            torch.testing.assert_close(merged[key], weight + scaling * update, rtol=0, atol=1e-6, msg=key)
            targets += 1
        else:
            torch.testing.assert_close(merged[key], weight, rtol=0, atol=0, msg=key)
    config = tiny_config()
    layers = config.encoder_layers + config.decoder_layers
    attentions = config.encoder_layers + 2 * config.decoder_layers
    assert targets == 4 * attentions + 2 * layers + 3


def test_adapter_reloads_through_peft_and_equals_the_merged_model(adapter_run, workdir):
    adapted = PeftModel.from_pretrained(base_model(workdir), adapter_run).eval()
    merged = AutoModelForSpeechSeq2Seq.from_pretrained(adapter_run / MERGED_DIR).eval()
    assert type(merged) is EchoForConditionalGeneration
    adapted_logits, adapted_tokens = outputs(adapted)
    merged_logits, merged_tokens = outputs(merged)
    torch.testing.assert_close(merged_logits, adapted_logits, rtol=0, atol=1e-5)
    assert torch.equal(merged_tokens, adapted_tokens)
    base_logits, _ = outputs(base_model(workdir))
    assert not torch.allclose(base_logits, adapted_logits, atol=1e-3)  # the adapter does something
    # the merged folder is a full run output: its processor and code files load in a fresh process
    assert AutoProcessor.from_pretrained(adapter_run / MERGED_DIR).tokenizer is not None
    assert (adapter_run / MERGED_DIR / "modeling_echo.py").is_file()


def test_merge_in_memory_keeps_logits_and_greedy_tokens():
    model = add_lora(tiny_model(), EchoLoraConfig(r=4, target_modules=["attention", "feed_forward", "front_ends"]))
    torch.manual_seed(1)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (the adapter a no-op): give it an update to merge
            torch.nn.init.normal_(parameter, std=0.05)
    model.eval()
    logits, tokens = outputs(model, seed=2)
    merged = model.merge_and_unload()
    merged_logits, merged_tokens = outputs(merged, seed=2)
    torch.testing.assert_close(merged_logits, logits, rtol=0, atol=1e-5)
    assert torch.equal(merged_tokens, tokens)


def test_every_target_name_exists_and_nothing_else_trains():
    model = tiny_model(ctc_loss_weight=0.3)
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(MODULE_NAMES) <= leaves
    adapted = add_lora(model, EchoLoraConfig())
    trainable = [name for name, parameter in adapted.named_parameters() if parameter.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    adapted_modules = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trainable}
    assert adapted_modules == {*TARGET_MODULE_GROUPS["attention"], *TARGET_MODULE_GROUPS["feed_forward"]}
    assert count_parameters(adapted)[0] == sum(p.numel() for p in adapted.parameters() if p.requires_grad)


def test_groups_expand_in_order_without_duplicates():
    assert expand_target_modules(["feed_forward", "fc1", "q_proj"]) == ["fc1", "fc2", "q_proj"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"target_modules": ["attention", "conv_dilated"]}, r"\['conv_dilated'\].*'attention'.*'q_proj'"),
        ({"target_modules": ["proj_out"]}, r"Echo does not have.*Valid names"),
        ({"target_modules": []}, r"non-empty list"),
        ({"target_modules": "attention"}, r"non-empty list"),
        ({"r": 0}, r"`lora.r` must be a whole number of 1 or more, got 0"),
        ({"r": 2.5}, r"`lora.r`"),
        ({"alpha": 0}, r"`lora.alpha` must be a number above 0"),
        ({"dropout": 1.0}, r"`lora.dropout` must be a probability in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"`lora.dropout`"),
        ({"rank": 8}, r"Unknown key\(s\) \['rank'\] in `lora`"),
    ],
)
def test_bad_lora_settings_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        EchoLoraConfig.from_dict(values)


def test_bad_lora_section_fails_when_the_run_config_loads(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "m", "data": "d", "training_args": {"output_dir": "o"}, "lora": {"r": -1}}))
    with pytest.raises(ValueError, match=r"`lora.r`"):
        EchoTrainingConfig.from_json(path)


def test_lora_needs_a_saved_model_folder(workdir, tmp_path):
    config = write_train_config(
        tmp_path / "run.json", tmp_path / "model.json", workdir / "data", tmp_path / "out", lora={"r": 2}
    )
    with pytest.raises(ValueError, match=r"`lora` adapts a trained model.*saved model folder"):
        main([str(config)])
