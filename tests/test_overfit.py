"""A tiny Echo learns real speech: it overfits four espeak-ng clips until generate() returns their transcripts."""

import json
from pathlib import Path

import soundfile as sf
from trained_echo import overfit

SPEECH = Path(__file__).parent / "assets" / "speech"


def load_clips() -> tuple[list, list[str]]:
    transcripts = json.loads((SPEECH / "transcripts.json").read_text())
    audio = [sf.read(SPEECH / name, dtype="float32")[0] for name in transcripts]
    return audio, list(transcripts.values())


def overfit_tiny_model(steps: int = 200):
    """A tiny Echo trained on the four clips until it knows them; returns (model, processor, audio, texts, loss)."""
    audio, texts = load_clips()
    model, processor, loss = overfit(audio, texts, steps)
    return model, processor, audio, texts, loss


def test_tiny_model_overfits_real_clips_to_exact_transcripts():
    model, processor, audio, texts, loss = overfit_tiny_model()
    assert loss < 0.05
    batch = processor(audio=audio, text=texts, sampling_rate=16000, return_tensors="pt")
    audio_inputs = {k: v for k, v in batch.items() if k != "labels"}
    assert processor.batch_decode(model.generate(**audio_inputs), skip_special_tokens=True) == texts
    beams = model.generate(**audio_inputs, num_beams=3)
    assert processor.batch_decode(beams, skip_special_tokens=True) == texts
    # one clip at a time (no padding at all) gives the same words
    for clip, text in zip(audio, texts, strict=True):
        single = processor(audio=clip, sampling_rate=16000, return_tensors="pt")
        assert processor.batch_decode(model.generate(**single), skip_special_tokens=True) == [text]
