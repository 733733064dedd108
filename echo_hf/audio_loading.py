"""Audio in any form the ASR pipeline accepts, as mono float32 at the feature extractor's rate.

transformers' pipeline decodes files with ffmpeg and resamples with torchaudio; Echo reads files with soundfile
(libsndfile: WAV, FLAC, OGG, MP3) and resamples with librosa, so neither is needed. Files soundfile cannot
decode still go to ffmpeg when it is installed.
"""

import io
import os
import shutil
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

INT16_SCALE = 32768.0


def load_audio_file(path: str | os.PathLike, sampling_rate: int) -> np.ndarray:
    """Decode `path` to mono float32 at `sampling_rate`; a clear error for a missing or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {str(path)!r}.")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError) as error:
        return _decode_with_ffmpeg(path.read_bytes(), sampling_rate, f"{str(path)!r}", error)
    return resample(audio.mean(axis=1), rate, sampling_rate)


def decode_audio_bytes(data: bytes, sampling_rate: int) -> np.ndarray:
    """Decode the bytes of an audio file to mono float32 at `sampling_rate`."""
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        return _decode_with_ffmpeg(data, sampling_rate, "the audio bytes", error)
    return resample(audio.mean(axis=1), rate, sampling_rate)


def _decode_with_ffmpeg(data: bytes, sampling_rate: int, name: str, error: Exception) -> np.ndarray:
    formats = ", ".join(sorted(sf.available_formats()))
    if shutil.which("ffmpeg") is None:
        raise ValueError(
            f"Cannot decode {name}: {error}. soundfile reads {formats}; install ffmpeg for other formats, or "
            "convert the file to WAV or FLAC."
        ) from error
    from transformers.pipelines.audio_utils import ffmpeg_read

    try:
        audio = ffmpeg_read(data, sampling_rate)
    except ValueError as ffmpeg_error:
        raise ValueError(
            f"Cannot decode {name}: neither soundfile ({error}) nor ffmpeg ({ffmpeg_error}) can read it. "
            f"Is it an audio file? soundfile reads {formats}."
        ) from ffmpeg_error
    return audio.astype(np.float32)


def to_mono_float(audio: np.ndarray | torch.Tensor) -> np.ndarray:
    """A 1-D float32 array from a 1-D or 2-D (channels first or last, at most 2 channels) float or int16 array."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        audio = audio.astype(np.float32) / INT16_SCALE
    if audio.ndim == 2:
        # A stereo pair is 2 long on one axis: average over that one, whichever it is.
        channel_axis = 0 if audio.shape[0] <= 2 and audio.shape[0] < audio.shape[1] else 1
        if audio.shape[channel_axis] > 2:
            raise ValueError(f"Audio of shape {audio.shape} has more than 2 channels: downmix it to mono yourself.")
        audio = audio.mean(axis=channel_axis)
    if audio.ndim != 1:
        raise ValueError(f"Audio must be 1-D (mono) or 2-D (channels); got shape {audio.shape}.")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"Audio has dtype {audio.dtype}: pass float samples in [-1, 1] or int16 PCM.")
    return audio.astype(np.float32, copy=False)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """`audio` at `target_sr` (unchanged when the rates agree)."""
    audio = to_mono_float(audio)
    if orig_sr == target_sr or audio.shape[0] == 0:
        return audio
    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


__all__ = ["decode_audio_bytes", "load_audio_file", "resample", "to_mono_float"]
