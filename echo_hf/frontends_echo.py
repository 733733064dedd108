"""Echo's two audio front-ends: convolutions over log-mels and over the raw waveform, each to d_model per position.

Both respect clip lengths: frames past a clip's end are zeroed after every layer, so a clip padded inside a
batch computes exactly what it computes alone. The helper at the end pools sample- or frame-level zeros to positions.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from .configuration_echo import EchoConfig


def conv_output_lengths(lengths: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Valid output frames of `conv` for inputs with `lengths` valid frames."""
    (kernel,), (stride,), (padding,), (dilation,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    return ((lengths + 2 * padding - dilation * (kernel - 1) - 1).div(stride, rounding_mode="floor") + 1).clamp(min=0)


def length_mask(lengths: torch.Tensor | None, size: int) -> torch.Tensor | None:
    """(batch, 1, size) float mask of valid frames; None when every frame is valid."""
    if lengths is None:
        return None
    return (torch.arange(size, device=lengths.device) < lengths[:, None]).unsqueeze(1).float()


def masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # Zeroing frames past a clip's end makes a padded clip compute exactly what it computes alone.
    return x if mask is None else x * mask.to(x.dtype)


class SqueezeExcitation(nn.Module):
    """Channel gates from the clip's mean activation (padding excluded from the mean)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:  # x: (batch, channels, time)
        if mask is None:
            pooled = x.mean(-1)
        else:
            mask = mask.to(x.dtype)  # a float32 mask would lift bf16/fp16 activations to float32
            pooled = (x * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return x * self.fc(pooled).unsqueeze(-1)


class EchoSpectrogramFrontEnd(nn.Module):
    """The seed's conv stack over log-mels: k3 -> act -> dilated k3 (strided) -> depthwise k3 -> 1x1 -> SE -> act
    -> dropout -> k3. The dilated conv's stride brings 100 mel frames/s to 50 positions/s."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        d = config.d_model
        self.conv_in = nn.Conv1d(config.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv_dilated = nn.Conv1d(d, d, kernel_size=3, stride=config.spectrogram_stride, padding=2, dilation=2)
        self.conv_depthwise = nn.Conv1d(d, d, kernel_size=3, padding=1, groups=d)
        self.conv_pointwise = nn.Conv1d(d, d, kernel_size=1)
        self.squeeze_excitation = SqueezeExcitation(d, config.squeeze_excitation_reduction)
        self.conv_out = nn.Conv1d(d, d, kernel_size=3, padding=1)
        self.act = ACT2FN[config.activation_function]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, features: torch.Tensor, frame_lengths: torch.Tensor | None):
        """features (batch, mels, frames) -> (batch, positions, d_model), valid positions per clip."""
        x = masked(self.act(self.conv_in(features)), length_mask(frame_lengths, features.shape[-1]))
        x = self.conv_dilated(x)
        lengths = None if frame_lengths is None else conv_output_lengths(frame_lengths, self.conv_dilated)
        mask = length_mask(lengths, x.shape[-1])
        x = self.conv_pointwise(self.conv_depthwise(masked(x, mask)))
        x = self.dropout(self.act(self.squeeze_excitation(masked(x, mask), mask)))
        x = masked(self.conv_out(masked(x, mask)), mask)
        return x.transpose(1, 2), lengths


def conv1d_time_major(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """`conv` on time-major x (batch, time, in) -> (batch, positions, out), computed as one matrix product.

    Equal to `conv(x.transpose(1, 2)).transpose(1, 2)` up to float rounding. Why: for the waveform's long, thin,
    strided convolutions, oneDNN is slow on CPU (its backward pass most of all), and time-major activations need
    no transposes. When kernel = taps * stride, the padded signal is cut into stride-long blocks (a free view) and
    each position's window is `taps` consecutive blocks side by side: a copy of the input in (sample, channel)
    order. That beats per-block products summed over shifted slices, whose backward fills and copies an
    output-sized buffer per tap. Other kernels fall back to `unfold`.
    """
    (kernel,), (stride,), (padding,) = conv.kernel_size, conv.stride, conv.padding
    x = F.pad(x, (0, 0, padding, padding))
    if kernel % stride:
        return F.linear(x.unfold(1, kernel, stride).flatten(2), conv.weight.flatten(1), conv.bias)
    taps = kernel // stride
    blocks = x[:, : x.shape[1] // stride * stride].unflatten(1, (-1, stride)).flatten(2)  # (batch, blocks, stride*in)
    positions = blocks.shape[1] - taps + 1
    windows = blocks if taps == 1 else torch.cat([blocks[:, tap : tap + positions] for tap in range(taps)], dim=-1)
    # (out, in, kernel) -> (out, kernel * in): the (sample, channel) order of a window
    return F.linear(windows, conv.weight.transpose(1, 2).flatten(1), conv.bias)


class EchoWaveformFrontEnd(nn.Module):
    """Strided convolutions over the raw waveform, each followed by the activation."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        channels = [1, *config.waveform_conv_channels]
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel_size=k, stride=s, padding=(k - s) // 2)
            for c_in, c_out, k, s in zip(
                channels[:-1], channels[1:], config.waveform_conv_kernels, config.waveform_conv_strides, strict=True
            )
        )
        self.act = ACT2FN[config.activation_function]

    def forward(self, waveform: torch.Tensor, sample_lengths: torch.Tensor | None):
        """waveform (batch, samples) -> (batch, positions, d_model), valid positions per clip."""
        x, lengths = waveform.unsqueeze(-1), sample_lengths  # time-major: (batch, samples, 1)
        for conv in self.convs:
            x = self.act(conv1d_time_major(x, conv))
            lengths = None if lengths is None else conv_output_lengths(lengths, conv)
            mask = length_mask(lengths, x.shape[1])
            x = masked(x, None if mask is None else mask.transpose(1, 2))
        return x, lengths


def pool_zero_frames(is_zero: torch.BoolTensor, size: int, positions: int) -> torch.BoolTensor:
    """A position is zero when every input frame (or sample) it covers is zero (frames past the end count as zero).

    The input is always padded by `size`, which covers any shortfall of a front-end that rounds its last position up,
    rather than by a computed amount: no branch on lengths, so a traced graph (ONNX) serves every length."""
    is_zero = F.pad(is_zero, (0, size), value=True)
    return is_zero[:, : positions * size].reshape(is_zero.shape[0], positions, size).all(-1)


def span_mask(lengths: torch.Tensor, size: int, prob: float, span: int, min_spans: int) -> torch.BoolTensor:
    """(batch, size) mask of random spans of `span` steps inside each row's first `lengths` steps: about
    `prob * length / span` spans per row (at least `min_spans`; none when a row is not longer than one span, and
    none at all when `prob` is 0, as in Whisper's `mask_time_prob`)."""
    lengths = lengths.to(torch.long)
    if prob == 0:
        return torch.zeros(lengths.shape[0], size, dtype=torch.bool, device=lengths.device)
    draws = torch.rand(lengths.shape, device=lengths.device)  # rounds the expected count up or down at random
    spans = (prob * lengths / span + draws).floor().long().clamp(min=min_spans)
    spans = torch.where(lengths > span, spans, torch.zeros_like(spans))
    most = int(spans.max()) if spans.numel() else 0
    if most == 0:
        return torch.zeros(lengths.shape[0], size, dtype=torch.bool, device=lengths.device)
    room = (lengths - span + 1).clamp(min=1)
    starts = (torch.rand(lengths.shape[0], most, device=lengths.device) * room[:, None]).long()  # (batch, spans)
    used = torch.arange(most, device=lengths.device) < spans[:, None]
    steps = torch.arange(size, device=lengths.device)
    inside = (steps >= starts[..., None]) & (steps < starts[..., None] + span) & used[..., None]
    return inside.any(1)


def spec_augment(
    features: torch.Tensor | None,
    waveform: torch.Tensor | None,
    frame_lengths: torch.Tensor | None,
    config: EchoConfig,
    sample_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """SpecAugment for training (config `apply_spec_augment` and `mask_*`): time spans set to 0 in the log-mels and
    over the same samples of the waveform, frequency bands set to 0 in the log-mels. New tensors: the inputs are
    left as they were. Spans are counted in mel frames (`hop` samples each) whichever views are present, inside each
    clip's valid frames (`frame_lengths`, else the valid samples `sample_lengths`, else the whole batch length)."""
    hop = config.samples_per_position // config.spectrogram_stride
    if features is not None:
        batch, bins, frames = features.shape
        device = features.device
    else:
        (batch, samples), bins, device = waveform.shape, config.num_mel_bins, waveform.device
        frames = -(-samples // hop)
    if frame_lengths is None and sample_lengths is not None:
        frame_lengths = -(-sample_lengths // hop)
    if frame_lengths is None:
        frame_lengths = torch.full((batch,), frames, device=device)
    time = span_mask(frame_lengths, frames, config.mask_time_prob, config.mask_time_length, config.mask_time_min_masks)
    if features is not None:
        bands = span_mask(
            torch.full((batch,), bins, device=device),
            bins,
            config.mask_feature_prob,
            config.mask_feature_length,
            config.mask_feature_min_masks,
        )
        features = features.masked_fill(time[:, None, :] | bands[:, :, None], 0.0)
    if waveform is not None:
        # Mel frame f is centred on sample f * hop (centred STFT): sample s belongs to frame (s + hop // 2) // hop.
        frame_of_sample = ((torch.arange(waveform.shape[1], device=device) + hop // 2) // hop).clamp(max=frames - 1)
        waveform = waveform.masked_fill(time[:, frame_of_sample], 0.0)
    return features, waveform
