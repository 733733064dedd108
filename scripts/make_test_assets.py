"""Make the small test assets: the real-speech clips (tests/assets/speech/, with Debian's espeak-ng) and a tiny
dataset saved by datasets 5 (tests/assets/speech_datasets5/, from those clips).

    python scripts/make_test_assets.py [speech]   # the clips
    python scripts/make_test_assets.py datasets5  # in an environment with datasets 5: pip install 'datasets>=5,<6'

The assets are committed, so the tests need neither a speech synthesiser nor datasets 5; this script documents how
they were made.
"""

import argparse
import io
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


ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets"
# The four clips' split in the saved dataset: every clip trains; two also validate and test.
DATASETS5_SPLITS = {"train": None, "validation": 2, "test": 2}


def make_speech() -> None:
    out = ASSETS / "speech"
    out.mkdir(parents=True, exist_ok=True)
    transcripts = {}
    for name, (text, voice) in SENTENCES.items():
        audio = synthesise(text, voice)
        sf.write(out / f"{name}.wav", audio, 16000, subtype="PCM_16")
        transcripts[f"{name}.wav"] = text
        print(f"{name}.wav  {len(audio) / 16000:.2f} s  {text!r}")
    (out / "transcripts.json").write_text(json.dumps(transcripts, indent=2) + "\n")


def make_datasets5() -> None:
    """`save_to_disk` of the clips (as FLAC bytes, `Audio(sampling_rate=16000)`) + text, written by datasets 5."""
    import datasets  # here, not at the top: the `speech` target needs no datasets

    if int(datasets.__version__.split(".")[0]) != 5:
        raise SystemExit(f"The datasets5 asset must be written by datasets 5; this is datasets {datasets.__version__}.")
    transcripts = json.loads((ASSETS / "speech" / "transcripts.json").read_text())
    cells = []
    for name in transcripts:
        audio, rate = sf.read(ASSETS / "speech" / name, dtype="int16")
        buffer = io.BytesIO()
        sf.write(buffer, audio, rate, format="FLAC", subtype="PCM_16")  # lossless, half the WAV's size
        cells.append({"bytes": buffer.getvalue(), "path": name.replace(".wav", ".flac")})
    info = datasets.DatasetInfo(description=f"Echo test clips, saved by datasets {datasets.__version__}")
    splits = {}
    for split, count in DATASETS5_SPLITS.items():
        rows = {"audio": cells[:count], "text": list(transcripts.values())[:count]}
        # Cast rather than pass `features`: datasets 5 encodes given examples with torchcodec, which a CPU torch lacks.
        part = datasets.Dataset.from_dict(rows, info=info, split=split)
        splits[split] = part.cast_column("audio", datasets.Audio(sampling_rate=16000))
    datasets.DatasetDict(splits).save_to_disk(str(ASSETS / "speech_datasets5"))
    print(f"wrote {ASSETS / 'speech_datasets5'} with datasets {datasets.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=("speech", "datasets5"), default="speech")
    args = parser.parse_args()
    make_speech() if args.target == "speech" else make_datasets5()


if __name__ == "__main__":
    main()
