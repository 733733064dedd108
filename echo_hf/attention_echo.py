"""Echo's positions and zero-aware attention.

Zeros are information here. Keys at "zero" positions (token id 0, silent or padded audio) are not cut out:
their post-softmax weight is multiplied by `config.zero_attention_epsilon`, which is an additive `log(eps)`
on their logits, so it runs inside SDPA. The bias is built once per forward and shared by every layer.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import EncoderDecoderCache
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_echo import EchoConfig

# ------------------------------------------------------------------------------------------ positions


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Fixed sinusoidal positions (length, channels) for the encoder."""
    log_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_increment * torch.arange(channels // 2, dtype=torch.float32))
    scaled_time = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)


class EchoRotary(nn.Module):
    """Rotary angles with learnable inverse frequencies and a learnable offset per position (the seed's `Rotary`)."""

    def __init__(self, dim: int, max_positions: int, base: float, learned_freq: bool):
        super().__init__()
        self.dim, self.base = dim, base
        self.inv_freq = nn.Parameter(self.initial_inv_freq(), requires_grad=learned_freq)
        self.position_bias = nn.Parameter(torch.zeros(max_positions, dim // 2))

    def initial_inv_freq(self) -> torch.Tensor:
        return 1.0 / (self.base ** (torch.arange(0, self.dim, 2, dtype=torch.float32) / self.dim))

    def forward(self, positions: torch.LongTensor) -> torch.Tensor:
        """The rotations cos + i sin of the angles, complex (positions, dim / 2): built once per forward and
        shared by every layer."""
        # Angles in float32 whatever the autocast dtype: positions up to 1500 need the mantissa.
        angles = positions.float()[:, None] * self.inv_freq.float() + self.position_bias[positions].float()
        return torch.complex(angles.cos(), angles.sin())


def apply_rotary(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs (x0, x1) of `x` (..., positions, dim) by `EchoRotary`'s rotations.

    As one complex product (x0 + i x1) * (cos + i sin) on a view of `x`: the same numbers as the four real
    products and a stack, in one pass over `x` instead of seven (~7x faster on CPU).
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * rotation).flatten(-2).type_as(x)


# ------------------------------------------------------------------------------------------ attention


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype attention will run in: the autocast dtype when autocast is on, else the tensor's."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def zero_key_bias(is_zero: torch.BoolTensor, config: EchoConfig, dtype: torch.dtype) -> torch.Tensor | None:
    """Additive bias (batch, 1, 1, keys) that multiplies the softmax weight of zero keys by epsilon.

    exp(logit + log eps) = eps * exp(logit), so after renormalisation the zero keys keep eps of their weight.
    epsilon = 0 is a hard mask; it uses the dtype's most negative finite number, not -inf, so a query whose
    keys are all zero (a silent clip) still gets finite, uniform weights.
    """
    if config.zero_attention_mode != "bias":
        return None
    eps = config.zero_attention_epsilon
    fill = math.log(eps) if eps > 0 else torch.finfo(dtype).min
    bias = torch.zeros(is_zero.shape, dtype=dtype, device=is_zero.device).masked_fill(is_zero, fill)
    return bias[:, None, None, :]


def zero_key_logit_scale(is_zero: torch.BoolTensor, config: EchoConfig, dtype: torch.dtype) -> torch.Tensor | None:
    """The seed's literal variant: a factor (batch, 1, 1, keys) that multiplies the logits of zero keys by eps."""
    if config.zero_attention_mode != "scale_logits":
        return None
    scale = torch.ones(is_zero.shape, dtype=dtype, device=is_zero.device)
    return scale.masked_fill(is_zero, config.zero_attention_epsilon)[:, None, None, :]


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    logit_scale: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention. `attention_mask` is an additive bias broadcastable to (batch, heads, q, k)."""
    logits = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, q, k)
    if logit_scale is not None:
        logits = logits * logit_scale
    if attention_mask is not None:
        logits = logits + attention_mask
    weights = F.softmax(logits.float(), dim=-1).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class EchoAttention(nn.Module):
    """Multi-head attention shared by encoder self-, decoder self- and cross-attention. The key has no bias."""

    def __init__(self, config: EchoConfig, num_heads: int, layer_idx: int | None = None, is_cross: bool = False):
        super().__init__()
        self.config, self.layer_idx, self.is_cross = config, layer_idx, is_cross
        self.num_heads, self.head_dim = num_heads, config.d_model // num_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False  # causality is part of the bias we pass, never inferred
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.num_heads, self.head_dim).transpose(1, 2)  # (batch, heads, time, head_dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_bias: torch.Tensor | None = None,
        logit_scale: torch.Tensor | None = None,
        rotary: torch.Tensor | None = None,
        past_key_values: EncoderDecoderCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query = self._heads(self.q_proj(hidden_states))
        if self.is_cross:
            cache = past_key_values.cross_attention_cache if past_key_values is not None else None
            if cache is not None and past_key_values.is_updated.get(self.layer_idx):
                key, value = cache.layers[self.layer_idx].keys, cache.layers[self.layer_idx].values
            else:  # the audio's keys and values are computed once per generation, then reused
                key = self._heads(self.k_proj(key_value_states))
                value = self._heads(self.v_proj(key_value_states))
                if cache is not None:
                    key, value = cache.update(key, value, self.layer_idx)
                    past_key_values.is_updated[self.layer_idx] = True
        else:
            key, value = self._heads(self.k_proj(hidden_states)), self._heads(self.v_proj(hidden_states))
            if rotary is not None:  # rotate before caching: cached keys keep their absolute positions
                query, key = apply_rotary(query, rotary), apply_rotary(key, rotary)
            if past_key_values is not None:
                key, value = past_key_values.self_attention_cache.update(key, value, self.layer_idx)

        attention: Callable = eager_attention_forward
        if logit_scale is None:  # the seed's logit scaling has no fused kernel
            attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, attention)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_bias,
            scaling=self.scaling,
            dropout=self.config.attention_dropout if self.training else 0.0,
            logit_scale=logit_scale,
            is_causal=False,
        )
        return self.out_proj(output.flatten(2)), weights
