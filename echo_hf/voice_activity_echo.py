"""Is there speech in this audio? Silero VAD's bundled ONNX model, run by ONNX Runtime, answers per 32 ms frame.

The ASR pipeline's `vad_threshold` uses it to transcribe non-speech (noise, tones, music, hum, clicks) as "" without
running Echo, whose decoder would otherwise read words into sounds it never met in training. The model file ships
inside the `silero-vad` wheel (the `vad` extra), so nothing is downloaded. The package itself is never imported:
importing it sets torch's thread count to 1 for the whole process; only its file is located and read.

Silero's streaming model takes 512-sample frames at 16 kHz (256 at 8 kHz), each preceded by the last 64 (32) samples
of the frame before, and carries a recurrent state from frame to frame.
"""

import importlib.util
from pathlib import Path

import numpy as np

# sampling rate -> (frame samples, context samples) of Silero's streaming model
FRAMES = {16000: (512, 64), 8000: (256, 32)}
STATE_SHAPE = (2, 1, 128)
# Less speech than this in a piece of audio is none: three 32 ms frames (one or two are heard in some chords).
MIN_SPEECH_S = 0.08


def silero_model_path() -> Path:
    """The ONNX file inside the installed `silero-vad` package (found without importing the package)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "`vad_threshold` needs the silero-vad package, whose wheel carries the VAD model: "
            '`pip install "echo_hf[vad]"`.'
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ImportError(f"The installed silero-vad has no {path.name} at {str(path)!r}; reinstall echo_hf[vad].")
    return path


class SpeechDetector:
    """Per-frame speech probabilities of 16 or 8 kHz mono audio (Silero VAD, one CPU thread)."""

    def __init__(self, sampling_rate: int = 16000):
        if sampling_rate not in FRAMES:
            raise ValueError(
                f"Voice activity detection runs at 16000 or 8000 Hz, and the feature extractor's rate is "
                f"{sampling_rate} Hz."
            )
        try:  # inside try: transformers' check of a saved folder's imports then does not demand it of every user
            import onnxruntime
        except ImportError as error:
            raise ImportError(
                "`vad_threshold` runs Silero VAD with onnxruntime, which is not installed: "
                '`pip install "echo_hf[vad]"`.'
            ) from error

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # small model: threads cost more than help
        self.session = onnxruntime.InferenceSession(
            str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.sampling_rate = sampling_rate
        self.frame, self.context = FRAMES[sampling_rate]

    @property
    def frame_s(self) -> float:
        return self.frame / self.sampling_rate

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """(frames,) speech probability of each whole or partial frame of `audio` (a partial one is zero-padded)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        frames = -(-len(audio) // self.frame)
        padded = np.zeros(self.context + frames * self.frame, dtype=np.float32)
        padded[self.context : self.context + len(audio)] = audio
        state = np.zeros(STATE_SHAPE, dtype=np.float32)
        rate = np.array(self.sampling_rate, dtype=np.int64)
        out = np.empty(frames, dtype=np.float32)
        for index in range(frames):
            start = index * self.frame  # this frame with the context before it
            window = padded[start : start + self.context + self.frame][None]
            probability, state = self.session.run(None, {"input": window, "state": state, "sr": rate})
            out[index] = probability.item()
        return out

    def speech_seconds(self, audio: np.ndarray, threshold: float) -> float:
        """How long `audio` holds speech: the frames whose probability reaches `threshold`."""
        return float((self.probabilities(audio) >= threshold).sum() * self.frame_s)

    def hears_speech(self, audio: np.ndarray, threshold: float, min_speech_s: float = MIN_SPEECH_S) -> bool:
        """Whether `audio` holds at least `min_speech_s` of speech at `threshold`: the ASR pipeline's `vad_threshold`
        transcribes the audio only then."""
        return self.speech_seconds(audio, threshold) >= min_speech_s


def check_vad(threshold: float | None, min_speech_s: float | None) -> None:
    """A ValueError for a VAD setting out of range."""
    if threshold is not None and not 0 < threshold < 1:
        raise ValueError(f"`vad_threshold` is a speech probability in (0, 1), got {threshold}.")
    if min_speech_s is not None and not min_speech_s > 0:
        raise ValueError(
            f"`vad_min_speech_s` must be above 0 seconds (0 would hear speech in anything), got {min_speech_s}."
        )
    if min_speech_s is not None and threshold is None:
        raise ValueError("`vad_min_speech_s` tunes `vad_threshold`; pass that too.")


__all__ = ["MIN_SPEECH_S", "SpeechDetector", "check_vad", "silero_model_path"]
