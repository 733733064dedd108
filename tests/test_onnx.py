"""ONNX export and ONNX Runtime decoding: the same greedy tokens as PyTorch, int8 behind the same pipeline, and the
folders and settings it cannot serve refused with a clear error."""

import copy
import json
import shutil

import onnx
import pytest
import torch
from trained_echo import RATE, clips, exported_echo, trained_echo
from transformers import GenerationConfig, pipeline

from echo_hf.onnx import EchoOnnxForConditionalGeneration
from echo_hf.transcribe import main


@pytest.fixture(scope="module")
def onnx_dir():
    return exported_echo()


def padded_batch(processor):
    """The four clips cut to four different lengths (none the export's example lengths), padded into one batch."""
    audio, _ = clips()
    cuts = [audio[0], audio[1][: round(1.9 * RATE)], audio[2][: round(1.6 * RATE)], audio[3][: round(2.05 * RATE)]]
    return processor(audio=cuts, sampling_rate=RATE, return_tensors="pt")


def test_fp32_greedy_tokens_equal_pytorch_in_a_padded_batch(onnx_dir):
    model, processor = trained_echo()
    batch = padded_batch(processor)
    assert len(set(batch["attention_mask"].sum(-1).tolist())) == 4  # really padded
    expected = model.generate(**batch, max_new_tokens=30)
    onnx_model = EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir)
    assert torch.equal(onnx_model.generate(**batch, max_new_tokens=30), expected)
    # no length given: both fill up to the decoder's limit at most, and stop at the end of text
    assert torch.equal(onnx_model.generate(**batch), model.generate(**batch))
    # the length settings, alone and together, as transformers reads them (min_new_tokens overrides min_length)
    limit = model.config.max_target_positions
    for lengths in (
        {"min_new_tokens": 25, "max_new_tokens": 30},
        {"min_length": 12, "max_length": 20},
        {"min_length": 12, "min_new_tokens": 3, "max_new_tokens": 20},
        {"min_new_tokens": limit, "max_new_tokens": limit},  # fills every decoder position
    ):
        assert torch.equal(onnx_model.generate(**batch, **lengths), model.generate(**batch, **lengths)), lengths
    # a generation config of the caller's is merged over the model's, and `inputs` names the log-mels
    views = dict(batch)
    features = views.pop("input_features")
    config = GenerationConfig(max_new_tokens=5)
    assert torch.equal(onnx_model.generate(features, config, **views), model.generate(features, config, **views))


def test_short_clip_below_the_traced_minimum_matches_pytorch(onnx_dir):
    model, processor = trained_echo()
    audio, _ = clips()
    short = processor(audio=[audio[0][4000:4800]], sampling_rate=RATE, return_tensors="pt")  # 50 ms: 6 frames
    assert short["input_features"].shape[-1] < 8
    onnx_model = EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir)
    assert torch.equal(onnx_model.generate(**short, max_new_tokens=10), model.generate(**short, max_new_tokens=10))


def test_generation_config_filled_by_the_trainer_is_accepted(onnx_dir):
    """Seq2SeqTrainer's evaluation writes transformers' defaults into the model's generation config."""
    model, processor = trained_echo()
    batch = padded_batch(processor)
    onnx_model = EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir)
    filled = copy.deepcopy(onnx_model.generation_config)
    filled.update(**GenerationConfig._get_default_generation_params(), defaults_only=True)
    assert filled.max_length == 20 and filled.assistant_lookbehind is not None
    onnx_model.generation_config = filled
    assert torch.equal(onnx_model.generate(**batch), model.generate(**batch, generation_config=filled))


def test_int8_transcribes_through_the_pipeline(onnx_dir):
    _, processor = trained_echo()
    audio, texts = clips()
    for variant in ("fp32", "int8"):
        asr = pipeline(
            "automatic-speech-recognition",
            model=EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir, variant=variant),
            tokenizer=processor.tokenizer,
            feature_extractor=processor.feature_extractor,
        )
        assert [out["text"] for out in asr(audio, batch_size=2)] == texts, variant
    for graph in ("encoder.onnx", "decoder.onnx"):  # the int8 graphs multiply in int8 (dynamic quantisation)
        ops = {node.op_type for node in onnx.load(onnx_dir / "int8" / graph).graph.node}
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, graph
        assert "MatMulInteger" not in {node.op_type for node in onnx.load(onnx_dir / graph).graph.node}


def test_cli_onnx_backend(onnx_dir, tmp_path, capsys):
    import soundfile as sf

    audio, texts = clips()
    sf.write(tmp_path / "clip1.wav", audio[1], RATE)
    for variant in ("fp32", "int8"):
        assert main([str(onnx_dir), str(tmp_path / "clip1.wav"), "--backend", "onnx", "--onnx-variant", variant]) == 0
        assert capsys.readouterr().out == texts[1] + "\n"
    assert main([str(onnx_dir), str(tmp_path / "clip1.wav"), "--backend", "onnx", "--num-beams", "2"]) == 2
    assert "greedily" in capsys.readouterr().err


def test_folder_that_does_not_match_is_refused_on_load(onnx_dir, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(onnx_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_layers": config["decoder_layers"] + 1}))
    with pytest.raises(ValueError, match="decoder_layers: graphs 2, config.json 3"):
        EchoOnnxForConditionalGeneration.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config))
    manifest = json.loads((folder / "onnx_config.json").read_text())
    (folder / "onnx_config.json").write_text(json.dumps({**manifest, "opset": manifest["opset"] + 1}))
    with pytest.raises(ValueError, match="opset"):
        EchoOnnxForConditionalGeneration.from_pretrained(folder)
    with pytest.raises(ValueError, match="no 'int4' graphs"):
        EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir, variant="int4")
    with pytest.raises(ValueError, match="no onnx_config.json"):
        EchoOnnxForConditionalGeneration.from_pretrained(tmp_path)


def test_settings_greedy_decoding_cannot_honour_are_refused(onnx_dir):
    _, processor = trained_echo()
    batch = padded_batch(processor)
    model = EchoOnnxForConditionalGeneration.from_pretrained(onnx_dir)
    for setting in ({"num_beams": 2}, {"do_sample": True}, {"repetition_penalty": 1.2}, {"output_scores": True}):
        with pytest.raises(ValueError, match=f"not supported: \\['{next(iter(setting))}'\\]"):
            model.generate(**batch, **setting)
    model.generate(**batch, max_new_tokens=2, num_beams=1, repetition_penalty=1.0, temperature=0.7)  # neutral: fine
    with pytest.raises(ValueError, match="both views"):
        model.generate(input_features=batch["input_features"], attention_mask=batch["attention_mask"])
    with pytest.raises(ValueError, match="max_target_positions"):  # one more than the decoder has positions
        too_long = model.config.max_target_positions + 1
        model.generate(**batch, min_new_tokens=too_long, max_new_tokens=too_long)
    with pytest.raises(ValueError, match="logits processors"):
        model.generate(**batch, suppress_tokens=[3])


def test_one_view_model_is_refused_before_tracing(tmp_path):
    from conftest import tiny_model

    from echo_hf import EchoFeatureExtractor
    from echo_hf.onnx.export_echo import export_model

    with pytest.raises(ValueError, match="two-view model; this one has audio_views='waveform'"):
        export_model(tiny_model(audio_views="waveform"), EchoFeatureExtractor(), tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()
