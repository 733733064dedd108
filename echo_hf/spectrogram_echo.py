"""Echo's log-mel spectrogram as pure functions: an STFT over each clip's valid frames only, a banded mel
projection, and the floored log that maps silence to exactly 0.

The numbers equal (to float rounding) `torch.stft(..., center=True, pad_mode="constant")` with a hann window,
power `|X|^2`, the mel matmul and the floored log, with frames past each clip's end set to 0. Padding frames are
written as 0 without being transformed, so a clip's features are the same alone or padded inside a batch.
"""

import numpy as np
import torch

# (mel_start, mel_stop, bin_start, bin_stop, weights (mels, bin_stop - bin_start))
MelBand = tuple[int, int, int, int, torch.Tensor]


def mel_bands(mel_filters: np.ndarray, band_size: int, device: torch.device) -> list[MelBand]:
    """The mel filters (num_bins, num_mels) as bands of `band_size` mels, each with the only bins it weighs.

    A mel filter is a triangle over a few neighbouring bins, so a band of consecutive mels needs a narrow bin
    range. Bin indices count the interleaved (re, im) squares of the spectrum: bins [bin_start / 2, bin_stop / 2).
    The weights left out are exactly zero, so each mel sums the same terms as the full matmul.
    """
    num_mels = mel_filters.shape[1]
    filters = torch.from_numpy(mel_filters).to(device=device, dtype=torch.float32)
    # (num_mels, 2 * num_bins): each bin's weight for its real and its imaginary square
    interleaved = filters.T.repeat_interleave(2, dim=1)
    nonzero = mel_filters != 0
    bands = []
    for mel_start in range(0, num_mels, band_size):
        mel_stop = min(mel_start + band_size, num_mels)
        used = np.flatnonzero(nonzero[:, mel_start:mel_stop].any(axis=1))
        # an all-zero band still needs one (zero-weight) bin so that the matmul writes its zeros
        first, last = (int(used[0]), int(used[-1])) if used.size else (0, 0)
        weights = interleaved[mel_start:mel_stop, 2 * first : 2 * last + 2].contiguous()
        bands.append((mel_start, mel_stop, 2 * first, 2 * last + 2, weights))
    return bands


def log_mel_spectrogram(
    waveform: torch.Tensor,
    n_frames: list[int],
    *,
    n_fft: int,
    hop_length: int,
    bands: list[MelBand],
    log_floor: float,
    log_scale: float,
    block_frames: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised log-mels (batch, mels, frames) and the int32 frame mask (batch, frames).

    `waveform` (batch, samples) is zero past each clip's end; clip `b` has `n_frames[b]` valid frames, and the
    batch has `samples // hop_length` frames. Valid frames are transformed in blocks of `block_frames` (sized so
    a block's frames and spectrum stay in cache on CPU); features are `(log10(max(mel, floor)) - log10(floor))
    / log_scale`.
    """
    batch, num_samples = waveform.shape
    frames = num_samples // hop_length
    num_mels = bands[-1][1]
    device, pad, num_bins = waveform.device, n_fft // 2, n_fft // 2 + 1
    window = torch.hann_window(n_fft, device=device, dtype=waveform.dtype)
    block = min(block_frames, max(n_frames))
    windowed_buffer = torch.empty(block, n_fft, dtype=waveform.dtype, device=device)
    spectrum_buffer = torch.empty(block, num_bins, dtype=torch.complex64, device=device)
    # Every element is written once below: valid frames by the mel projection, padding frames with 0.
    features = torch.empty(batch, num_mels, frames, dtype=waveform.dtype, device=device)
    for row, clip_frames in enumerate(n_frames):
        features[row, :, clip_frames:] = 0.0
        for first in range(0, clip_frames, block):
            count = min(block, clip_frames - first)
            # Frame t covers samples [t * hop - pad, t * hop - pad + n_fft) of the clip, zeros outside it
            # (the row is already zero past the clip's end, so only the batch's ends need padding).
            start, stop = first * hop_length - pad, (first + count - 1) * hop_length - pad + n_fft
            segment = waveform[row, max(start, 0) : min(stop, num_samples)]
            if start < 0 or stop > num_samples:
                segment = torch.nn.functional.pad(segment, (max(-start, 0), max(stop - num_samples, 0)))
            windowed = torch.mul(segment.unfold(0, n_fft, hop_length), window, out=windowed_buffer[:count])
            spectrum = torch.fft.rfft(windowed, out=spectrum_buffer[:count])
            # Power as re^2 + im^2 in place, (count, 2 * num_bins) interleaved; the mel weights are repeated
            # for re and im so that the matmul adds the two squares.
            squares = torch.view_as_real(spectrum).view(count, 2 * num_bins)
            squares.mul_(squares)
            mel = features[row, :, first : first + count]
            for mel_start, mel_stop, bin_start, bin_stop, weights in bands:
                torch.mm(weights, squares[:, bin_start:bin_stop].T, out=mel[mel_start:mel_stop])
            # log10(max(mel, floor)) - log10(floor) written as log10(max(mel / floor, 1)): silence gives
            # log10(1), exactly 0, with no float rounding of log10(floor) left over.
            mel.div_(log_floor).clamp_(min=1.0).log10_().div_(log_scale)
    clip_frames = torch.tensor(n_frames, device=device)
    frame_mask = (torch.arange(frames, device=device) < clip_frames[:, None]).to(torch.int32)
    return features, frame_mask
