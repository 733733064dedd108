"""Synthesise the small real-speech clips the tests use (tests/assets/speech/), with Debian's espeak-ng.

    python scripts/make_test_assets.py

The clips are committed, so the tests need no speech synthesiser; this script documents how they were made.
"""

import json
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

SENTENCES = {
    "hello_world": ("hello world", "en-us"),
    "echo_hears": ("echo hears silence", "en-gb"),
    "zeros_matter": ("zeros are information", "en-us+f3"),
    "good_morning": ("good morning to you", "en-gb-scotland"),
}


def synthesise(text: str, voice: str, sampling_rate: int = 16000) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", wav.name, text], check=True)
        audio, rate = sf.read(wav.name, dtype="float32")
    audio = librosa.resample(audio, orig_sr=rate, target_sr=sampling_rate)
    # Exact digital silence around the words, as a recording with a gate would have: Echo reads it as a zero.
    silence = np.zeros(sampling_rate // 5, dtype=np.float32)
    return np.concatenate([silence, audio, silence])


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "tests" / "assets" / "speech"
    out.mkdir(parents=True, exist_ok=True)
    transcripts = {}
    for name, (text, voice) in SENTENCES.items():
        audio = synthesise(text, voice)
        sf.write(out / f"{name}.wav", audio, 16000, subtype="PCM_16")
        transcripts[f"{name}.wav"] = text
        print(f"{name}.wav  {len(audio) / 16000:.2f} s  {text!r}")
    (out / "transcripts.json").write_text(json.dumps(transcripts, indent=2) + "\n")


if __name__ == "__main__":
    main()
