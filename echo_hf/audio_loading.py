"""Audio in every form Echo takes, as mono float32 at a rate: a file, its bytes, an array or tensor, a datasets cell.

Files are read with soundfile (libsndfile: WAV, FLAC, OGG, MP3) and resampled with librosa, so neither ffmpeg nor
torchaudio is needed (transformers' pipeline needs both); files soundfile cannot decode still go to ffmpeg when it is
installed.

Channels, the one rule (`to_mono_tensor`): a file says which axis holds them. A 2-D array or tensor does not, so its
shorter axis is taken as the channels, (channels, samples) or (samples, channels), the last axis on a tie. Either
way the channels are averaged, but an array only up to the caller's `max_channels`: 1 for the feature extractor
(mono only: downmixing is the caller's choice), 2 for the pipeline (an array of more rows is likelier a batch of
clips than a recording), None for a dataset example (always one clip). Samples are float, or int16 PCM scaled by
1 / `INT16_SCALE`; other integer dtypes are refused.
"""

import io
import os
import shutil
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

INT16_SCALE = 32768.0  # int16 PCM -> float in [-1, 1)


def to_mono_tensor(audio, max_channels: int | None, name: str = "Audio") -> torch.Tensor:
    """`audio` (1-D, or 2-D with a channel axis; numpy, torch or a list of numbers) as a 1-D float32 tensor on its
    device. `max_channels`: the most channels a 2-D array may have (None: any); `name` begins every error."""
    dtype_hint = "pass float samples in [-1, 1] or int16 PCM"
    if not isinstance(audio, torch.Tensor):
        array = np.asarray(audio)
        array = np.require(array, array.dtype.newbyteorder("="), "C")  # torch takes native byte order only
        try:
            audio = torch.from_numpy(array)
        except TypeError as error:  # str, object, ...
            raise ValueError(f"{name} has dtype {array.dtype}: {dtype_hint}.") from error
    if audio.dtype == torch.int16:
        audio = audio.to(torch.float32) / INT16_SCALE
    elif not audio.is_floating_point():
        raise ValueError(f"{name} has dtype {audio.dtype}: {dtype_hint}.")
    audio = audio.to(torch.float32)
    if audio.ndim == 2:
        channel_axis = 0 if audio.shape[0] < audio.shape[1] else 1
        channels = audio.shape[channel_axis]
        if max_channels is not None and channels > max_channels:
            takes = "mono 1-D audio" if max_channels == 1 else f"at most {max_channels} channels, averaged to mono"
            raise ValueError(
                f"{name} has shape {tuple(audio.shape)} ({channels} channels), but Echo takes {takes} here. Downmix "
                "it yourself, e.g. `audio.mean(axis=0)` for a (channels, samples) array (`axis=1` for (samples, "
                "channels)); for a batch, pass a list of 1-D clips: `list(batch)`."
            )
        audio = audio.mean(dim=channel_axis)
    if audio.ndim != 1:
        raise ValueError(f"{name} has shape {tuple(audio.shape)}: pass 1-D (mono) or 2-D (channels) audio.")
    return audio


def to_mono_float(audio, max_channels: int | None = 2) -> np.ndarray:
    """`to_mono_tensor` as a numpy array (on the CPU)."""
    return to_mono_tensor(audio, max_channels).detach().cpu().numpy()


def resample(audio, orig_sr: int, target_sr: int, max_channels: int | None = 2) -> np.ndarray:
    """`audio` as mono float32 at `target_sr` (not resampled when the rates agree)."""
    audio = to_mono_float(audio, max_channels)
    if orig_sr == target_sr or audio.shape[0] == 0:
        return audio
    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


def load_audio_file(path: str | os.PathLike, sampling_rate: int) -> np.ndarray:
    """Decode `path` to mono float32 at `sampling_rate`; a clear error for a missing or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {str(path)!r}.")
    return _decode(path, sampling_rate, f"{str(path)!r}")


def decode_audio_bytes(data: bytes, sampling_rate: int) -> np.ndarray:
    """Decode the bytes of an audio file to mono float32 at `sampling_rate`."""
    return _decode(data, sampling_rate, "the audio bytes")


def is_audio_decoder(value) -> bool:
    """Whether `value` is a torchcodec `AudioDecoder`, what datasets 4+ gives for an `Audio(decode=True)` cell.

    Told by its `get_all_samples` method rather than by its class, so that torchcodec need not be installed (its
    wheels load only beside a CUDA build of torch) for the other forms of audio to work.
    """
    return callable(getattr(value, "get_all_samples", None))


def decode_audio(value, sampling_rate: int, max_channels: int | None = None) -> np.ndarray:
    """One clip as mono float32 at `sampling_rate`, from any form a dataset or a caller holds it in:

    - a file path (str or PathLike) or the bytes of an audio file;
    - a `datasets.Audio` cell, from any datasets release: encoded `{"bytes", "path"}` (`decode=False`; bytes first),
      decoded by datasets 3 `{"array", "sampling_rate"}` (`"raw"` counts as `"array"`, as in transformers'
      pipeline; no `"sampling_rate"` means `sampling_rate`), or decoded by datasets 4+, a torchcodec `AudioDecoder`
      (any object with `get_all_samples()` returning samples with `.data` (channels, samples) and `.sample_rate`);
    - an array, tensor or list of numbers, taken to be at `sampling_rate` already.

    `max_channels` bounds an array's channels (see the module docstring); None suits a dataset example.
    """
    if isinstance(value, (str, os.PathLike)):
        return load_audio_file(value, sampling_rate)
    if isinstance(value, (bytes, bytearray)):
        return decode_audio_bytes(bytes(value), sampling_rate)
    if is_audio_decoder(value):
        samples = value.get_all_samples()
        # torchcodec's layout is (channels, samples) whatever their counts, so the shorter-axis rule is not needed.
        data = torch.as_tensor(samples.data)
        return resample(data.mean(dim=0) if data.ndim == 2 else data, int(samples.sample_rate), sampling_rate)
    if isinstance(value, dict):
        return _decode_dict(value, sampling_rate, max_channels)
    if isinstance(value, (np.ndarray, torch.Tensor, list, tuple)):
        return resample(value, sampling_rate, sampling_rate, max_channels)
    raise ValueError(
        f"Cannot read audio from {_describe(value)}. Pass a file path, the bytes of an audio file, an array of "
        f"samples at {sampling_rate} Hz, or a datasets audio cell: {{'bytes', 'path'}} (`Audio(decode=False)`), "
        "{'array', 'sampling_rate'} or a torchcodec AudioDecoder."
    )


def _decode_dict(value: dict, sampling_rate: int, max_channels: int | None) -> np.ndarray:
    array = value.get("raw", value.get("array"))
    if array is not None:
        return resample(array, int(value.get("sampling_rate", sampling_rate)), sampling_rate, max_channels)
    if value.get("bytes") is not None:
        return decode_audio_bytes(value["bytes"], sampling_rate)
    if value.get("path") is not None:
        return load_audio_file(value["path"], sampling_rate)
    empty = sorted(key for key in ("array", "raw", "bytes", "path") if key in value)
    unset = f" ({', '.join(empty)} None)" if empty else ""
    raise ValueError(
        f"An audio dict needs `array` (and `sampling_rate`), `bytes` or `path`; got keys {sorted(value)}{unset}. "
        "A datasets cell with neither bytes nor path has no clip: drop the example or fill it in."
    )


def _describe(value) -> str:
    return "None (a missing clip?)" if value is None else f"a {type(value).__name__}: {str(value)[:60]!r}"


def _decode(source: Path | bytes, sampling_rate: int, name: str) -> np.ndarray:
    try:
        file = io.BytesIO(source) if isinstance(source, bytes) else source
        audio, rate = sf.read(file, dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError) as error:
        data = source if isinstance(source, bytes) else source.read_bytes()
        return _decode_with_ffmpeg(data, sampling_rate, name, error)
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


__all__ = [
    "decode_audio",
    "decode_audio_bytes",
    "is_audio_decoder",
    "load_audio_file",
    "resample",
    "to_mono_float",
    "to_mono_tensor",
]
