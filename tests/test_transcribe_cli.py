"""echo-transcribe: files and folders, text/json/srt/vtt, long files cut at pauses or chunked, the CTC options, voice
activity detection, bad files reported and skipped."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from trained_echo import CHUNK_S, RATE, SLOT_S, STRIDE_S, clips, recording, trained_echo, with_ctc_head

from echo_hf.transcribe import main, srt_time


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    model, processor = trained_echo()
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    audio, _ = clips()
    for index, clip in enumerate(audio):
        sf.write(folder / f"clip{index}.wav", clip, RATE)
    (folder / "notes.txt").write_text("not audio, and not picked up from the folder")
    return folder


def test_text_for_files_and_folders(model_dir, audio_dir, capsys):
    _, texts = clips()
    assert main([str(model_dir), str(audio_dir / "clip0.wav")]) == 0
    captured = capsys.readouterr()
    assert captured.out == texts[0] + "\n" and "transcribing" in captured.err  # the tqdm bar is on stderr
    assert main([str(model_dir), str(audio_dir), "--batch-size", "2", "--num-beams", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{audio_dir / f'clip{i}.wav'}\t{text}" for i, text in enumerate(texts)]


def test_long_file_is_cut_at_pauses_or_chunked_to_json_and_srt(model_dir, tmp_path, capsys):
    order = [0, 1, 2, 3, 2]
    audio, text = recording(order)
    path = tmp_path / "long.flac"
    sf.write(path, audio, RATE)
    # no --chunk-length-s: 11 s is more than the model's 3 s, so it is cut at its pauses, one piece per clip (cut
    # with less silence around them than this model was trained on: only the cutting is checked here)
    assert main([str(model_dir), str(path), "--format", "json", "--device", "cpu"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["file"] == str(path) and len(result["chunks"]) == len(order)
    for slot, chunk in enumerate(result["chunks"]):
        assert slot * SLOT_S < chunk["timestamp"][0] < chunk["timestamp"][1] < (slot + 1) * SLOT_S
    chunking = ["--chunk-length-s", str(CHUNK_S), "--stride-length-s", str(STRIDE_S), "--batch-size", "4"]
    assert main([str(model_dir), str(path), "--format", "json", *chunking]) == 0
    assert json.loads(capsys.readouterr().out)[0]["text"] == text
    assert main([str(model_dir), str(path), "--format", "srt", *chunking]) == 0
    srt = capsys.readouterr().out
    _, texts = clips()
    cues = [cue.split("\n") for cue in srt.strip().split("\n\n")]
    assert [cue[0] for cue in cues] == ["1", "2", "3", "4", "5"]
    assert [cue[2] for cue in cues] == [texts[i] for i in order]
    assert cues[0][1].startswith("00:00:00,000 --> 00:00:02,")
    assert srt_time(3723.5) == "01:02:03,500"


def test_output_dir_and_bad_files(model_dir, audio_dir, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF????WAVEfmt " + bytes(40))
    out = tmp_path / "out"
    args = [str(model_dir), str(audio_dir / "clip1.wav"), str(bad), "--output-dir", str(out), "--format", "srt"]
    assert main(args) == 1  # the bad file is reported and skipped, the good one is written
    assert "skipping" in capsys.readouterr().err and (out / "clip1.srt").is_file() and not (out / "bad.srt").exists()
    assert main([str(model_dir), str(tmp_path / "missing.wav")]) == 2
    assert "No such audio file" in capsys.readouterr().err
    model_only = tmp_path / "model_only"
    trained_echo()[0].save_pretrained(model_only)
    assert main([str(model_only), str(audio_dir)]) == 2
    assert "processor.save_pretrained" in capsys.readouterr().err


def test_silence_file_gives_an_empty_line(model_dir, tmp_path, capsys):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(RATE * 2, np.float32), RATE)
    assert main([str(model_dir), str(path)]) == 0
    assert capsys.readouterr().out == "\n"


def test_vad_threshold_empties_a_tone_and_keeps_speech(model_dir, audio_dir, tmp_path, capsys):
    tone = tmp_path / "tone.wav"
    sf.write(tone, 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE * 2) / RATE), RATE)
    assert main([str(model_dir), str(tone)]) == 0
    assert capsys.readouterr().out.strip()  # the model reads words into a tone
    assert main([str(model_dir), str(tone), str(audio_dir / "clip0.wav"), "--vad-threshold", "0.4"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tone}\t", f"{audio_dir / 'clip0.wav'}\t{clips()[1][0]}"]
    assert main([str(model_dir), str(tone), "--vad-threshold", "2"]) == 2  # refused before any file is read
    assert "error: `vad_threshold` is a speech probability in (0, 1)" in capsys.readouterr().err


def test_runs_as_a_module(model_dir, audio_dir):
    result = subprocess.run(
        [sys.executable, "-m", "echo_hf.transcribe", str(model_dir), str(audio_dir / "clip2.wav")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == clips()[1][2] + "\n"


def test_word_timestamps_as_webvtt_and_json(audio_dir, tmp_path, capsys):
    model, processor = trained_echo()
    folder = tmp_path / "with_ctc"
    with_ctc_head(model).save_pretrained(folder)
    processor.save_pretrained(folder)
    _, texts = clips()
    clip = str(audio_dir / "clip2.wav")
    assert main([str(folder), clip, "--word-timestamps", "--format", "vtt"]) == 0
    vtt = capsys.readouterr().out
    assert vtt.startswith("WEBVTT\n\n")
    cues = vtt.removeprefix("WEBVTT\n\n").strip().split("\n\n")
    assert [cue.split("\n")[1] for cue in cues] == texts[2].split()
    assert all(" --> " in cue.split("\n")[0] and "." in cue.split("\n")[0] for cue in cues)
    assert main([str(folder), clip, "--word-timestamps", "--format", "json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [chunk["text"] for chunk in result["chunks"]] == texts[2].split()


def test_ctc_options_reach_generation_and_the_onnx_backend_refuses_them(audio_dir, tmp_path, capsys):
    model, processor = trained_echo()
    folder = tmp_path / "with_ctc"
    with_ctc_head(model).save_pretrained(folder)
    processor.save_pretrained(folder)
    clip = str(audio_dir / "clip1.wav")
    # every position's blank probability is above 0: a threshold of 0 calls every clip non-speech
    assert main([str(folder), clip, "--no-speech-threshold", "0"]) == 0
    assert capsys.readouterr().out == "\n"
    assert main([str(folder), clip, "--ctc-weight", "0.3", "--num-beams", "2"]) == 0
    assert capsys.readouterr().out.strip()
    assert main([str(folder), clip, "--ctc-weight", "1.5"]) == 1
    assert "ctc_weight" in capsys.readouterr().err
    assert main([str(folder), clip, "--backend", "onnx", "--ctc-weight", "0.3"]) == 2
    assert "--ctc-weight" in capsys.readouterr().err
