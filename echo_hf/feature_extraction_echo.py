"""Feature extractor for Echo: normalised log-mels and the raw waveform, with their masks.

Echo treats zeros as information: digital silence and padding are exactly 0 in both views.
"""

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank
from transformers.utils import PaddingStrategy, logging

from .audio_loading import to_mono_tensor
from .spectrogram_echo import log_mel_spectrogram, mel_bands

logger = logging.get_logger(__name__)


class EchoFeatureExtractor(SequenceFeatureExtractor):
    """Turns mono 16 kHz audio into Echo's two inputs: normalised log-mels and the zero-padded waveform.

    Features are a short-time Fourier transform with a hann window, centred frames and zero ("constant")
    padding, the same as `torch.stft(..., center=True, pad_mode="constant")`, so a clip's frames are identical
    whether it is alone or padded inside a batch. Only each clip's valid frames are computed (padding frames
    are exactly 0 without being transformed), in cache-sized blocks on CPU.

    Args:
        feature_size (`int`, *optional*, defaults to 128):
            Number of mel bins.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate in Hz the audio must have; other rates are refused, not resampled.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value the waveform is padded with. Must be 0.0: the model reads zeros as silence and padding.
        n_fft (`int`, *optional*, defaults to 400):
            STFT window and FFT size in samples (25 ms at 16 kHz).
        hop_length (`int`, *optional*, defaults to 160):
            STFT hop in samples (10 ms at 16 kHz). A clip of n samples gives `n // hop_length` frames.
        chunk_length (`int`, *optional*, defaults to 30):
            Longest clip, in seconds, the model takes; also the default `max_length` (in seconds) for
            `padding="max_length"`.
        log_floor (`float`, *optional*, defaults to 1e-10):
            Mel power is clamped to at least this before the log; the floor maps to exactly 0.
        log_scale (`float`, *optional*, defaults to 4.0):
            Divisor of the floored log10 mel power, `(log10(max(mel, floor)) - log10(floor)) / log_scale`,
            which keeps features of normal speech roughly in [0, 3].
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Whether `__call__` returns `attention_mask` and `waveform_attention_mask` by default.
    """

    model_input_names = ["input_features", "attention_mask", "waveform", "waveform_attention_mask"]

    def __init__(
        self,
        feature_size: int = 128,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 400,
        hop_length: int = 160,
        chunk_length: int = 30,
        log_floor: float = 1e-10,
        log_scale: float = 4.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        if padding_value != 0.0:
            raise ValueError(
                f"`padding_value` is {padding_value}, but Echo reads exactly 0 as padding and silence: "
                "use `padding_value=0.0` (the default)."
            )
        super().__init__(
            feature_size, sampling_rate, padding_value, return_attention_mask=return_attention_mask, **kwargs
        )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.chunk_length = chunk_length
        self.log_floor = log_floor
        self.log_scale = log_scale
        # (n_fft // 2 + 1 bins, feature_size mels) over 0 Hz..Nyquist; `to_dict` does not save `mel_filters`.
        num_bins = 1 + n_fft // 2
        self.mel_filters = mel_filter_bank(
            num_bins, feature_size, 0.0, sampling_rate / 2, sampling_rate, norm="slaney", mel_scale="slaney"
        )

    @property
    def n_samples(self) -> int:
        """Longest clip in samples: `chunk_length * sampling_rate`."""
        return self.chunk_length * self.sampling_rate

    def num_frames(self, num_samples: int) -> int:
        """Number of feature frames for a clip of `num_samples` samples (the encoder has ceil(frames / 2))."""
        return num_samples // self.hop_length

    def __call__(
        self,
        raw_speech: np.ndarray | torch.Tensor | Sequence[float] | Sequence[np.ndarray | torch.Tensor | Sequence[float]],
        sampling_rate: int | None = None,
        padding: bool | str | PaddingStrategy = "longest",
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> BatchFeature:
        """Extract features from one mono clip or a list of mono clips.

        Args:
            raw_speech: a 1-D clip or a list of 1-D clips, as numpy arrays, torch tensors or lists of numbers,
                float (any float dtype, nominally in [-1, 1]) or int16 (scaled by 1/32768). As in transformers'
                Whisper feature extractor, a flat list of numbers is one clip and a list of lists is a batch.
            sampling_rate: rate of `raw_speech` in Hz; must equal `self.sampling_rate`. Pass it to be checked.
            padding: `"longest"` (or `True`) pads to the longest clip; `"max_length"` pads to `max_length`.
            max_length: padded length in samples for `padding="max_length"` (default `n_samples`).
            return_tensors: `"pt"` (tensors stay on `device`), `"np"`, or `None` (numpy arrays).
            return_attention_mask: whether to return the two masks (default: the config's value).
            device: where the STFT and mel projection run, e.g. `"cpu"` or `"cuda"`.
            kwargs: ignored; the ASR pipeline passes e.g. `truncation=False`.

        Returns:
            `BatchFeature`: `input_features` float32 (batch, feature_size, frames), `attention_mask` int32
            (batch, frames), `waveform` float32 and `waveform_attention_mask` int32 (batch, samples).
        """
        self._check_sampling_rate(sampling_rate)
        clips = [self._to_mono_float(clip, index) for index, clip in enumerate(self._as_clip_list(raw_speech))]
        lengths = [clip.shape[0] for clip in clips]
        padded_length = self._padded_length(lengths, padding, max_length)

        # Each element is written once (clip or zero tail): no full-size zero fill, bool mask or dtype copy.
        waveform = torch.empty(len(clips), padded_length, dtype=torch.float32, device=device)
        waveform_mask = torch.empty(len(clips), padded_length, dtype=torch.int32, device=device)
        for row, clip in enumerate(clips):
            waveform[row, : clip.shape[0]] = clip.to(device)
            waveform[row, clip.shape[0] :] = 0.0
            waveform_mask[row, : clip.shape[0]] = 1
            waveform_mask[row, clip.shape[0] :] = 0
        features, frame_mask = self._log_mel(waveform, [self.num_frames(length) for length in lengths])

        data = {"input_features": features, "waveform": waveform}
        if return_attention_mask if return_attention_mask is not None else self.return_attention_mask:
            data["attention_mask"] = frame_mask
            data["waveform_attention_mask"] = waveform_mask
        if return_tensors != "pt":
            data = {key: value.cpu().numpy() for key, value in data.items()}
        return BatchFeature(data, tensor_type=return_tensors)

    # CPU block size in frames: a block's windowed frames and spectrum (0.8 MB each at n_fft=400) stay in L2
    # cache instead of making full-batch temporaries. Other devices take each clip in one block.
    _cpu_block_frames = 512
    # Mels per band of the banded mel projection (see `spectrogram_echo.mel_bands`).
    _mel_band_size = 32

    def _log_mel(self, waveform: torch.Tensor, n_frames: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mels (batch, feature_size, frames) and the frame mask (batch, frames)."""
        device = waveform.device
        return log_mel_spectrogram(
            waveform,
            n_frames,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            bands=mel_bands(self.mel_filters, self._mel_band_size, device),
            log_floor=self.log_floor,
            log_scale=self.log_scale,
            block_frames=self._cpu_block_frames if device.type == "cpu" else max(n_frames),
        )

    def _check_sampling_rate(self, sampling_rate: int | None) -> None:
        if sampling_rate is None:
            logger.warning(
                f"It is strongly recommended to pass the `sampling_rate` argument to "
                f"`{type(self).__name__}()`: audio not sampled at {self.sampling_rate} Hz "
                "gives silently wrong features."
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"`sampling_rate` is {sampling_rate} Hz but {type(self).__name__} needs "
                f"{self.sampling_rate} Hz. Resample the audio to {self.sampling_rate} Hz first, e.g. with "
                f"`librosa.resample(audio, orig_sr={sampling_rate}, target_sr={self.sampling_rate})`."
            )

    def _as_clip_list(self, raw_speech) -> list:
        """One clip → [clip]; a list of clips stays a list. A flat list of numbers is one clip, as in
        `WhisperFeatureExtractor`; a lone 2-D array is multi-channel, never a batch."""
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("`raw_speech` is an empty list: pass at least one audio clip.")
            first = raw_speech[0]
            if isinstance(first, (list, tuple)) or (isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim > 0):
                return list(raw_speech)
            return [np.asarray(raw_speech)]
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
            return [raw_speech]
        raise ValueError(
            f"`raw_speech` must be a numpy array, a torch tensor, or a list of them; got {type(raw_speech).__name__}."
        )

    def _to_mono_float(self, clip, index: int) -> torch.Tensor:
        """A clip as a validated 1-D float32 tensor (on the device it came on). Multi-channel clips are refused
        (`max_channels=1`), not averaged: how to downmix is the caller's choice."""
        clip = to_mono_tensor(clip, max_channels=1, name=f"Clip {index}")
        if clip.shape[0] < self.hop_length:
            raise ValueError(
                f"Clip {index} has {clip.shape[0]} samples, fewer than one frame "
                f"({self.hop_length} samples): it is empty or too short to give any features. "
                "Drop it or pad it with silence."
            )
        # One fused min/max pass instead of isfinite's four full-size temporaries; NaN propagates to both.
        if not torch.isfinite(torch.stack(torch.aminmax(clip))).all():
            raise ValueError(
                f"Clip {index} contains NaN or infinite samples: clean the audio (e.g. `np.nan_to_num`) first."
            )
        if clip.shape[0] > self.n_samples:
            raise ValueError(
                f"Clip {index} is {clip.shape[0] / self.sampling_rate:.2f} s long, but the model takes "
                f"at most {self.chunk_length} s. For long audio use the ASR pipeline with `chunk_length_s` "
                f"(e.g. `asr(audio, chunk_length_s={self.chunk_length // 2})`), or split the audio yourself."
            )
        return clip

    def _padded_length(self, lengths: list[int], padding: bool | str | PaddingStrategy, max_length: int | None) -> int:
        strategy = PaddingStrategy.LONGEST if padding is True else PaddingStrategy(padding)
        if strategy == PaddingStrategy.LONGEST:
            return max(lengths)
        if strategy != PaddingStrategy.MAX_LENGTH:
            raise ValueError(
                f"`padding={padding!r}` is not supported: a batch needs one length. Use `padding='longest'` "
                "or `padding='max_length'`."
            )
        max_length = self.n_samples if max_length is None else max_length
        if max_length > self.n_samples:
            raise ValueError(
                f"`max_length` is {max_length} samples, more than the {self.n_samples} samples "
                f"({self.chunk_length} s) the model takes: use at most {self.n_samples}."
            )
        if max(lengths) > max_length:
            raise ValueError(
                f"A clip has {max(lengths)} samples, more than `max_length={max_length}`; "
                "nothing is truncated. Raise `max_length` or use `padding='longest'`."
            )
        return max_length


__all__ = ["EchoFeatureExtractor"]
