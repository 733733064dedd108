"""Echo's positions and zero-aware attention.

Zeros are information here. Keys at "zero" positions (token id 0, silent or padded audio) are not cut out: their
post-softmax weight is multiplied by `config.zero_attention_epsilon` (eps), i.e. `log(eps)` is added to their logits.

A zero key carries that mark itself, from the moment it is made: every key gets an extra channel holding `log(eps)`
(zero key) or 0, every query a matching channel of `1 / scaling`. The scaled dot product then adds exactly
`log(eps)` to the zero keys' logits. Values get zero channels so that q, k and v keep one head size, padded to a
multiple of 8 (what the fused SDPA kernels take); the output drops them. So a cache stores marked keys, incremental
decoding needs only the causal structure, and no attention takes a mask of zeros. The seed's variant
(`"scale_logits"`: zero keys' logits times eps) is the key vector times eps, which needs no extra channel. Both run
in SDPA.
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
    products and a stack, in one pass over `x` instead of seven.
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * rotation).flatten(-2).type_as(x)


# ------------------------------------------------------------------------------------------ attention

# The mark of a zero key when eps = 0: a finite logit whose softmax weight is exactly 0 in every float dtype
# (exp(-1e4) underflows), so a query whose keys are all zero (a silent clip) still gets finite weights. Finite in
# float16 too, as are its products with the query channel.
HARD_MASK_LOGIT = -1e4
# The fused SDPA kernels on CUDA (flash, memory-efficient) take head sizes in multiples of 8 only; a marked head
# is padded with zero channels to stay one.
HEAD_ALIGNMENT = 8


def marked_channels(head_dim: int) -> int:
    """Channels "bias" mode appends to each head: the bias channel, then zeros up to a multiple of `HEAD_ALIGNMENT`."""
    return HEAD_ALIGNMENT - head_dim % HEAD_ALIGNMENT


def mark_zero_keys(
    key: torch.Tensor, value: torch.Tensor, is_zero: torch.BoolTensor | None, config: EchoConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values (batch, heads, keys, head_dim) as attention and the cache keep them: zero keys marked.

    `is_zero` (batch, keys) is True at zero keys; None means none is zero. "bias" mode appends the bias channel
    (log eps at zero keys, else 0) and alignment zeros to the keys, zeros to the values; "scale_logits" scales zero
    keys by eps.
    """
    eps = config.zero_attention_epsilon
    if config.zero_attention_mode == "scale_logits":
        if is_zero is None:
            return key, value
        return key * torch.where(is_zero, eps, 1.0)[:, None, :, None].to(key.dtype), value
    extra = marked_channels(key.shape[-1])
    channel = key.new_zeros(key.shape[0], 1, key.shape[2], extra)
    if is_zero is not None:
        bias = math.log(eps) if eps > 0 else HARD_MASK_LOGIT
        channel[..., 0] = channel[..., 0].masked_fill(is_zero[:, None, :], bias)
    return torch.cat([key, channel.expand(-1, key.shape[1], -1, -1)], -1), F.pad(value, (0, extra))


def mark_queries(query: torch.Tensor, scaling: float, config: EchoConfig) -> torch.Tensor:
    """Queries (batch, heads, q, head_dim) with the channel that reads the zero keys' bias: `1 / scaling`, so that
    the scaled dot product adds the bias itself. Unchanged in "scale_logits" mode."""
    if config.zero_attention_mode == "scale_logits":
        return query
    channels = query.new_zeros(*query.shape[:-1], marked_channels(query.shape[-1]))
    channels[..., 0] = 1 / scaling
    return torch.cat([query, channels], -1)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention -> (batch, q, heads, head_dim) and weights (batch, heads, q, k).

    `attention_mask` is the causal structure, broadcastable to (batch, heads, q, k): boolean (True = may attend) or
    additive. Without one, `is_causal` (default: the module's) masks the future when there are several queries.
    """
    logits = torch.matmul(query * scaling, key.transpose(-1, -2))  # (batch, heads, q, k)
    is_causal = getattr(module, "is_causal", False) if is_causal is None else is_causal
    if attention_mask is None and is_causal and query.shape[2] > 1:
        q, k = query.shape[2], key.shape[2]
        attention_mask = torch.ones(q, k, dtype=torch.bool, device=query.device).tril(k - q)
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        logits = logits.masked_fill(~attention_mask, torch.finfo(logits.dtype).min)
    elif attention_mask is not None:
        logits = logits + attention_mask
    weights = F.softmax(logits.float(), dim=-1).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class EchoAttention(nn.Module):
    """Multi-head attention shared by encoder self-, decoder self- and cross-attention. The key has no bias."""

    def __init__(self, config: EchoConfig, num_heads: int, layer_idx: int | None = None, kind: str = "encoder"):
        super().__init__()
        self.config, self.layer_idx, self.kind = config, layer_idx, kind
        self.num_heads, self.head_dim = num_heads, config.d_model // num_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = kind == "decoder"  # read by the attention functions when no mask is given
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.num_heads, self.head_dim).transpose(1, 2)  # (batch, heads, time, head_dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_is_zero: torch.BoolTensor | None,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states (batch, q, d_model) -> (batch, q, d_model) and the weights when asked.

        `key_is_zero` (batch, keys) marks the zero keys among the keys this call makes (the cache keeps earlier ones
        marked); `attention_mask` is the decoder's causal structure, or None.
        """
        query = self._heads(self.q_proj(hidden_states))
        source = hidden_states if key_value_states is None else key_value_states
        if self.kind == "cross" and cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]  # the audio's keys, made at the first step
            key, value = layer.keys, layer.values
        else:
            key, value = self._heads(self.k_proj(source)), self._heads(self.v_proj(source))
            if rotary is not None:  # rotate before caching: cached keys keep their absolute positions
                query, key = apply_rotary(query, rotary), apply_rotary(key, rotary)
            key, value = mark_zero_keys(key, value, key_is_zero, self.config)
            if cache is not None and self.kind == "cross":
                key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
            elif cache is not None:
                key, value = cache.self_attention_cache.update(key, value, self.layer_idx)

        attention: Callable = eager_attention_forward
        if not output_attentions:  # SDPA returns no weights
            attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, attention)
        output, weights = attention(
            self,
            mark_queries(query, self.scaling, self.config),
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.config.attention_dropout if self.training else 0.0,
        )
        return self.out_proj(output[..., : self.head_dim].flatten(2)), weights
