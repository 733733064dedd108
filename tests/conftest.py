"""Shared fixtures: a tiny, seeded Echo and audio-shaped inputs."""

import pytest
import torch

from echo_hf import EchoConfig, EchoForConditionalGeneration

SAMPLES_PER_POSITION = 320  # 160-sample hop x spectrogram stride 2


def tiny_config(**overrides) -> EchoConfig:
    """An Echo small enough to run every path in milliseconds; dropout off so outputs are deterministic."""
    values = dict(
        vocab_size=64,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=300,
        max_target_positions=24,
        waveform_conv_channels=[8, 16, 32, 32],
        squeeze_excitation_reduction=4,
        dropout=0.0,
    )
    values.update(overrides)
    return EchoConfig(**values)


def tiny_model(seed: int = 0, attn_implementation: str = "sdpa", **overrides) -> EchoForConditionalGeneration:
    torch.manual_seed(seed)
    config = tiny_config(**overrides)
    config._attn_implementation = attn_implementation
    return EchoForConditionalGeneration(config).eval()


def audio_inputs(seconds: list[float], seed: int = 0, mels: int = 128) -> dict[str, torch.Tensor]:
    """Both views for clips of the given lengths, zero-padded like the feature extractor pads them."""
    generator = torch.Generator().manual_seed(seed)
    samples = [int(s * 16000) for s in seconds]
    frames = [n // 160 for n in samples]
    features = torch.zeros(len(seconds), mels, max(frames))
    waveform = torch.zeros(len(seconds), max(samples))
    frame_mask = torch.zeros(len(seconds), max(frames), dtype=torch.long)
    sample_mask = torch.zeros(len(seconds), max(samples), dtype=torch.long)
    for i, (n, t) in enumerate(zip(samples, frames, strict=True)):
        features[i, :, :t] = torch.rand(mels, t, generator=generator) * 3
        waveform[i, :n] = torch.randn(n, generator=generator) * 0.1
        frame_mask[i, :t] = 1
        sample_mask[i, :n] = 1
    return {
        "input_features": features,
        "waveform": waveform,
        "attention_mask": frame_mask,
        "waveform_attention_mask": sample_mask,
    }


@pytest.fixture
def model() -> EchoForConditionalGeneration:
    return tiny_model()
