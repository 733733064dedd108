"""Echo's ASR pipeline with a model that knows four clips: every input kind, both views, long audio, bad input; and
every other model's ASR pipeline exactly as without echo_hf."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from other_asr_models import TASK, save_ctc, save_whisper
from trained_echo import (
    CHUNK_S,
    RATE,
    SLOT_S,
    STRIDE_S,
    clips,
    recording,
    trained_echo,
    with_ctc_head,
    with_trained_ctc_head,
)
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import echo_hf
from echo_hf import EchoSpeechRecognitionPipeline
from echo_hf.pipeline_echo import SpeechRecognitionPipelineForModel

ROOT = Path(__file__).parents[1]
TRANSFORMERS_ASR = "transformers.pipelines.automatic_speech_recognition.AutomaticSpeechRecognitionPipeline"
# Run from the repository root with tests/ on the path, so both processes import this checkout's echo_hf.
BEHAVIOUR_PROGRAM = """
import json, sys
if {import_echo_hf}:
    import echo_hf
sys.path.insert(0, "tests")
from other_asr_models import TASK, pipeline_behaviour
from transformers.pipelines import PIPELINE_REGISTRY

behaviour = pipeline_behaviour({folder!r})
impl = PIPELINE_REGISTRY.supported_tasks[TASK]["impl"]
echo_hf = sys.modules.get("echo_hf")
print(json.dumps({{"echo_hf": echo_hf and echo_hf.__file__, "impl": getattr(impl, "__name__", impl), **behaviour}}))
"""


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


def test_task_builds_echos_pipeline(asr):
    assert type(asr) is EchoSpeechRecognitionPipeline and asr.type == "seq2seq"
    assert PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] is SpeechRecognitionPipelineForModel


def behaviour_with_and_without_echo_hf(folder: Path, logs: Path) -> tuple[dict, dict]:
    """`other_asr_models.pipeline_behaviour(folder)` in two fresh processes at once, the first importing echo_hf."""
    # One hash seed for both: a set's order shows in one of generate()'s warnings.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"PYTHONHASHSEED": "0"}
    runs = []
    for imports in (True, False):
        out, err = logs / f"echo_hf={imports}.out", logs / f"echo_hf={imports}.err"
        command = [sys.executable, "-c", BEHAVIOUR_PROGRAM.format(import_echo_hf=imports, folder=str(folder))]
        with out.open("w") as stdout, err.open("w") as stderr:  # files, not pipes: neither run waits on a full pipe
            runs.append((subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr), out, err))
    results = []
    for run, out, err in runs:
        assert run.wait(timeout=600) == 0, err.read_text()[-3000:]
        results.append(json.loads(out.read_text().strip().splitlines()[-1]))
    return results[0], results[1]


@pytest.mark.parametrize("save", [save_whisper, save_ctc], ids=["whisper", "ctc"])
def test_other_models_behave_exactly_as_without_echo_hf(save, tmp_path):
    with_echo, without = behaviour_with_and_without_echo_hf(save(tmp_path / "model"), tmp_path)
    assert with_echo.pop("echo_hf") == echo_hf.__file__ and without.pop("echo_hf") is None
    assert with_echo.pop("impl") == "SpeechRecognitionPipelineForModel"
    assert without.pop("impl") == TRANSFORMERS_ASR
    assert with_echo == without  # every output, error, warning and log line, in order
    assert without["from folder"] == without["from objects"] == TRANSFORMERS_ASR
    assert without["array"]["text"] and [set(out) for out in without["batch"]] == [{"text"}, {"text"}]
    assert any(line.startswith("INFO transformers.feature_extraction_utils") for line in without["log"])


def test_other_model_without_a_tokenizer_fails_in_pipeline_not_at_the_first_call(tmp_path):
    # transformers alone raises there too, with its loader's error; echo_hf's registered class has to load softly
    # (for Echo's own message) and raises in its place.
    folder = save_ctc(tmp_path / "ctc")
    model, feature_extractor = Wav2Vec2ForCTC.from_pretrained(folder), Wav2Vec2FeatureExtractor.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"No tokenizer could be loaded for .* pass `tokenizer=` to `pipeline\(\)`"):
        pipeline(TASK, model=model, feature_extractor=feature_extractor)
    for name in ("vocab.json", "tokenizer_config.json", "added_tokens.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(ValueError, match="No tokenizer could be loaded"):
        pipeline(TASK, model=str(folder))


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
    with pytest.raises(ValueError, match="word-level"):
        asr(audio[0], return_timestamps="char")
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


@pytest.mark.parametrize("alignment", ["ctc", "attention"])
def test_word_timestamps_in_a_batch(alignment):
    """With a CTC head (the trained weights plus one) or without (DTW over cross-attention): the words are the
    transcript's, in order, with times inside the clip."""
    trained, processor = trained_echo()
    model = with_ctc_head(trained) if alignment == "ctc" else trained
    asr = pipeline(TASK, model=model, tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor)
    assert asr._word_alignment() == alignment
    audio, texts = clips()
    outputs = asr(audio, batch_size=2, return_timestamps="word")
    assert outputs == [asr(clip, return_timestamps="word") for clip in audio]  # a batch changes nothing
    for output, clip, text in zip(outputs, audio, texts, strict=True):
        assert output["text"] == text
        assert [chunk["text"] for chunk in output["chunks"]] == text.split()
        starts = [chunk["timestamp"][0] for chunk in output["chunks"]]
        # DTW may give the position where two tokens meet to both: ends may pass the next start by one position
        assert starts == sorted(starts) and 0 <= starts[0] and output["chunks"][-1]["timestamp"][1] <= len(clip) / RATE
        assert all(start < end for start, end in (chunk["timestamp"] for chunk in output["chunks"]))


@pytest.mark.parametrize("alignment", ["ctc", "attention"])
def test_word_timestamps_of_chunked_audio_are_in_the_recordings_time(alignment):
    trained, processor = trained_echo()
    model = with_trained_ctc_head() if alignment == "ctc" else trained
    asr = pipeline(TASK, model=model, tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor)
    order = [0, 1, 2, 3, 2]
    audio, text = recording(order)
    result = asr(audio, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, batch_size=2, return_timestamps="word")
    assert result["text"] == text
    assert [word["text"] for word in result["chunks"]] == text.split()
    _, texts = clips()
    slots = [slot for slot, clip in enumerate(order) for _ in texts[clip].split()]
    for slot, word in zip(slots, result["chunks"], strict=True):  # each word inside the chunk that holds its slot
        assert slot * SLOT_S - 1e-6 <= word["timestamp"][0] < word["timestamp"][1] <= slot * SLOT_S + CHUNK_S + 1e-6


def test_word_timestamps_need_a_ctc_head_or_alignment_heads():
    trained, processor = trained_echo()
    model = copy.deepcopy(trained)
    model.config.alignment_heads = []
    asr = pipeline(TASK, model=model, tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor)
    audio, _ = clips()
    with pytest.raises(ValueError, match="offers neither"):
        asr(audio[0], return_timestamps="word")
    with pytest.raises(ValueError, match='chunk_merge="text"'):
        asr(audio[0], chunk_length_s=CHUNK_S, chunk_merge="time")


def test_chunks_joined_by_time_keep_each_word_once_from_the_chunk_that_owns_it():
    """With a CTC head the pipeline joins chunks by time: every word once, in its own chunk, and the same transcript
    as joining by text where chunks meet in silence."""
    _, processor = trained_echo()
    parts = {"tokenizer": processor.tokenizer, "feature_extractor": processor.feature_extractor}
    asr = pipeline(TASK, model=with_trained_ctc_head(), **parts)
    assert asr._chunk_merge(None) == "time"
    order = [0, 1, 2, 3, 2, 2]  # a clip repeated back to back is spoken twice
    audio, text = recording(order)
    by_time = asr(audio, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, batch_size=2, return_timestamps=True)
    assert by_time["text"] == text
    assert asr(audio, chunk_length_s=CHUNK_S, stride_length_s=STRIDE_S, chunk_merge="text")["text"] == text
    _, texts = clips()
    assert [chunk["text"] for chunk in by_time["chunks"]] == [texts[i] for i in order]
    with pytest.raises(ValueError, match='"time" or by "text"'):
        asr(audio, chunk_length_s=CHUNK_S, chunk_merge="tokens")


def test_joining_by_time_drops_what_a_chunk_heard_in_audio_another_chunk_owns():
    """Two chunks' outputs as the forward pass gives them: the second heard the word cut at its left edge as another
    word. By time it is dropped (its centre lies in audio the first chunk owns), by text it is kept; a chunk whose
    alignment did not fit falls back to the text rule."""
    _, processor = trained_echo()
    asr = pipeline(TASK, model=with_trained_ctc_head(), tokenizer=processor.tokenizer,
                   feature_extractor=processor.feature_extractor)  # fmt: skip
    per = asr._align_to

    def chunk(words: list[str], spans: list[tuple[int, int]], start: int, stride: tuple[int, int, int]) -> dict:
        ids = [[asr.tokenizer.encode(" " + word, add_special_tokens=False) for word in words]]
        tokens = [0] + [token for word in ids[0] for token in word] + [0]  # start, text, end of text
        token_spans = [(-1, -1)] + [span for word, span in zip(ids[0], spans, strict=True) for _ in word] + [(-1, -1)]
        return {
            "tokens": torch.tensor([tokens]),
            "spans": torch.tensor([token_spans]),
            "chunk_start": start * per,
            "stride": tuple(s * per for s in stride),
            "overlap_silent": False,
            "num_samples": stride[0] * per,
        }

    # chunk 1: positions 0-20, owns [0, 15); chunk 2: positions 10-30, owns [15, 30), i.e. its own [5, 20)
    first = chunk(["hello", "world", "echo"], [(1, 5), (6, 10), (11, 17)], 0, (20, 0, 5))
    second = chunk(["zeros", "hears"], [(0, 5), (10, 16)], 10, (20, 5, 0))  # "echo", cut at its edge, as "zeros"
    assert asr.postprocess([first, second], chunk_merge="time")["text"] == "hello world echo hears"
    assert asr.postprocess([first, second], chunk_merge="text")["text"] == "hello world echo zeros hears"
    words = asr.postprocess([first, second], chunk_merge="time", return_timestamps="word")["chunks"]
    assert [word["text"] for word in words] == ["hello", "world", "echo", "hears"]
    assert words[-1]["timestamp"][0] == pytest.approx((10 + 10) * per / RATE)  # in the recording's time
    unaligned = {**second, "spans": torch.full_like(second["spans"], -1)}
    assert asr.postprocess([first, unaligned], chunk_merge="time")["text"] == "hello world echo zeros hears"
