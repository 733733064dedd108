"""Echo's ASR pipeline with a model that knows four clips: every input kind, both views, long audio, bad input."""

import numpy as np
import pytest
import soundfile as sf
import torch
from trained_echo import CHUNK_S, RATE, STRIDE_S, clips, recording, trained_echo
from transformers import AutomaticSpeechRecognitionPipeline, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from echo_hf import EchoSpeechRecognitionPipeline
from echo_hf.pipeline_echo import TASK, SpeechRecognitionPipelineForModel


def make_pipeline(model, processor):
    return pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
    )


@pytest.fixture(scope="module")
def asr():
    return make_pipeline(*trained_echo())


def pipeline_tokens(asr, audio, **generate_kwargs) -> torch.Tensor:
    (model_inputs,) = asr.preprocess(audio)
    return asr.forward(model_inputs, **generate_kwargs)["tokens"]


def test_task_builds_echos_pipeline_and_leaves_other_models_alone(asr):
    assert type(asr) is EchoSpeechRecognitionPipeline and asr.type == "seq2seq"
    assert PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] is SpeechRecognitionPipelineForModel
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    whisper = WhisperForConditionalGeneration(
        WhisperConfig(
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=16,
            decoder_ffn_dim=16,
            vocab_size=300,
            pad_token_id=0,
            bos_token_id=0,
            eos_token_id=0,
            decoder_start_token_id=0,
        )
    )
    other = pipeline(
        "automatic-speech-recognition",
        model=whisper,
        tokenizer=asr.tokenizer,
        feature_extractor=WhisperFeatureExtractor(),
    )
    assert type(other) is AutomaticSpeechRecognitionPipeline


def test_file_path_array_resampled_dict_and_batched_list(asr, tmp_path):
    audio, texts = clips()
    path = tmp_path / "clip.wav"
    sf.write(path, audio[0], RATE)
    assert asr(str(path)) == {"text": texts[0]}
    assert asr(audio[1])["text"] == texts[1]
    stereo_flac = tmp_path / "stereo.flac"
    sf.write(stereo_flac, np.stack([audio[3], audio[3]], axis=1), RATE)
    assert asr(stereo_flac)["text"] == texts[3]
    import librosa

    at_22k = librosa.resample(audio[2], orig_sr=RATE, target_sr=22050)
    assert asr({"raw": at_22k, "sampling_rate": 22050})["text"] == texts[2]
    assert [out["text"] for out in asr(audio, batch_size=3)] == texts


def test_pipeline_tokens_equal_generate_on_both_views(asr):
    model, processor = trained_echo()
    audio, _ = clips()
    for clip in audio[:2]:
        inputs = processor(audio=clip, sampling_rate=RATE, return_tensors="pt")
        for kwargs in ({}, {"num_beams": 3}):
            assert torch.equal(pipeline_tokens(asr, clip, **kwargs), model.generate(**inputs, **kwargs))


def test_generate_receives_both_views_exactly(asr, monkeypatch):
    model, processor = trained_echo()
    clip = clips()[0][1]
    expected = processor(audio=clip, sampling_rate=RATE, return_tensors="pt")
    seen = {}

    def spy(**kwargs):
        seen.update(kwargs)
        return torch.zeros(1, 1, dtype=torch.long)

    monkeypatch.setattr(model, "generate", spy)
    asr(clip, max_new_tokens=3, num_beams=2)
    for name in ("input_features", "attention_mask", "waveform", "waveform_attention_mask"):
        assert torch.equal(seen[name], expected[name]), name
    assert seen["max_new_tokens"] == 3 and seen["num_beams"] == 2


def test_minutes_of_audio_in_chunks_lose_and_repeat_no_word(asr):
    # 136 slots, about five minutes; the order repeats clips back to back, which must not be merged away.
    order = [int(i) for i in np.random.default_rng(0).integers(0, 4, 136)]
    audio, text = recording(order)
    assert audio.shape[0] / RATE > 295
    out = asr(audio, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, batch_size=8, return_timestamps=True)
    assert out["text"] == text
    # one chunk per clip; their spans tile the recording and hold their clip's speech
    _, texts = clips()
    assert [chunk["text"] for chunk in out["chunks"]] == [texts[i] for i in order]
    spans = [chunk["timestamp"] for chunk in out["chunks"]]
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(audio.shape[0] / RATE)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    speech = np.flatnonzero(audio)
    for start, end in spans:
        inside = speech[(speech >= start * RATE) & (speech < end * RATE)]
        assert inside.size and inside[0] >= start * RATE


def test_unchunked_timestamps_and_silence(asr):
    audio, texts = clips()
    out = asr(audio[0], return_timestamps=True)
    assert out["chunks"] == [{"text": texts[0], "timestamp": (0.0, round(audio[0].shape[0] / RATE, 3))}]
    assert asr(np.zeros(RATE * 2, np.float32)) == {"text": ""}
    assert asr(np.zeros(0, np.float32)) == {"text": ""}
    assert asr(np.zeros(10, np.float32)) == {"text": ""}
    long_silence = np.zeros(RATE * 20, np.float32)
    assert asr(long_silence, chunk_length_s=CHUNK_S, batch_size=4)["text"] == ""


def test_bad_inputs_raise_clear_errors(asr, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        asr(str(tmp_path / "missing.wav"))
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(ValueError, match="Cannot decode"):
        asr(str(garbage))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello world\n" * 50)
    with pytest.raises(ValueError, match="Cannot decode"):
        asr(str(notes))
    audio, _ = clips()
    with pytest.raises(ValueError, match="chunk_length_s"):
        asr(np.concatenate(audio * 3))  # 28 s: the model takes 3 s at once
    with pytest.raises(ValueError, match="chunk_length_s=10"):
        asr(np.concatenate(audio * 3), chunk_length_s=10)
    with pytest.raises(ValueError, match="chunk-level"):
        asr(audio[0], return_timestamps="word")
    with pytest.raises(TypeError, match="file path"):
        asr(12345)


def test_folder_without_processor_files_is_a_clear_error(tmp_path):
    model, _ = trained_echo()
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="processor.save_pretrained"):
        pipeline("automatic-speech-recognition", model=str(tmp_path))


def test_saved_folder_with_import(tmp_path):
    model, processor = trained_echo()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    asr = pipeline("automatic-speech-recognition", model=str(tmp_path))
    audio, texts = clips()
    assert type(asr) is EchoSpeechRecognitionPipeline
    assert asr(audio[2])["text"] == texts[2]
