"""Echo: an encoder-decoder speech recogniser that hears log-mels and the raw waveform at once.

Reading order: blocks, weights initialisation, encoder, decoder, models. Positions and the zero-aware attention
(zeros get a tiny weight, not -inf) are in `attention_echo.py`; the two audio front-ends in `frontends_echo.py`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationConfig, GenerationMixin, LogitsProcessorList, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.generation.utils import GenerateOutput
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from transformers.utils import ModelOutput, can_return_tuple

from .attention_echo import EchoAttention, EchoRotary, apply_rotary, sinusoids
from .configuration_echo import EchoConfig
from .ctc_decoding_echo import CTCPrefixScorer, no_speech_probability
from .frontends_echo import EchoSpectrogramFrontEnd, EchoWaveformFrontEnd, pool_zero_frames, spec_augment

# transformers 5.24 renamed the cache argument and output field `past_key_values` -> `cache` (the old name stays a
# deprecated alias until 5.40). Echo takes either name and returns the cache under the installed release's name.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


def pick_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    if cache is not None and past_key_values is not None:
        raise ValueError("Pass the key/value cache once, as `cache` or as `past_key_values`, not both.")
    return cache if cache is not None else past_key_values


@dataclass
class EchoEncoderOutput(ModelOutput):
    """The encoder's output: `last_hidden_state` (batch, positions, d_model), `zero_mask` (batch, positions), True
    where the audio is silent or padding, `lengths` (batch,), each clip's valid (unpadded) positions, then
    `hidden_states` and `attentions` when asked for.

    The decoder's cross-attention needs the zero mask at every generation step, after the features are gone; the
    auxiliary CTC loss needs the lengths. Neither is ever None, so `to_tuple()` keeps them second and third and a
    tuple reads back as the same output.
    """

    last_hidden_state: torch.FloatTensor | None = None
    zero_mask: torch.BoolTensor | None = None
    lengths: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


# ------------------------------------------------------------------------------------------ blocks


class EchoMLP(nn.Module):
    def __init__(self, config: EchoConfig, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(config.d_model, hidden), nn.Linear(hidden, config.d_model)
        self.act = ACT2FN[config.activation_function]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EchoEncoderLayer(GradientCheckpointingLayer):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        self.self_attn_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.self_attn = EchoAttention(config, config.encoder_attention_heads)
        self.mlp_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.mlp = EchoMLP(config, config.encoder_ffn_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, is_zero=None, rotary=None, output_attentions=False):
        attended, weights = self.self_attn(
            self.self_attn_norm(hidden_states), is_zero, rotary=rotary, output_attentions=output_attentions
        )
        hidden_states = hidden_states + self.dropout(attended)
        hidden_states = hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))
        return hidden_states, weights


class EchoDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm block with self-attention, cross-attention (gated by default) and an MLP."""

    def __init__(self, config: EchoConfig, layer_idx: int):
        super().__init__()
        self.self_attn_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.self_attn = EchoAttention(config, config.decoder_attention_heads, layer_idx, kind="decoder")
        self.cross_attn_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.cross_attn = EchoAttention(config, config.decoder_attention_heads, layer_idx, kind="cross")
        self.mlp_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.mlp = EchoMLP(config, config.decoder_ffn_dim)
        self.dropout = nn.Dropout(config.dropout)
        # The seed's gate: sigmoid(g) * x + (1 - sigmoid(g)) * cross. Computed in forward so g learns.
        self.cross_gate = (
            nn.Parameter(torch.tensor(float(config.cross_attention_gate_init)))
            if config.cross_attention_residual == "gate"
            else None
        )

    def forward(
        self,
        hidden_states,
        encoder_hidden_states,
        is_zero=None,
        encoder_zero_mask=None,
        causal_mask=None,
        rotary=None,
        cache=None,
        output_attentions=False,
    ):
        attended, self_weights = self.self_attn(
            self.self_attn_norm(hidden_states),
            is_zero,
            attention_mask=causal_mask,
            rotary=rotary,
            cache=cache,
            output_attentions=output_attentions,
        )
        hidden_states = hidden_states + self.dropout(attended)
        cross, cross_weights = self.cross_attn(
            self.cross_attn_norm(hidden_states),
            encoder_zero_mask,
            key_value_states=encoder_hidden_states,
            cache=cache,
            output_attentions=output_attentions,
        )
        if self.cross_gate is None:
            hidden_states = hidden_states + self.dropout(cross)
        else:
            gate = torch.sigmoid(self.cross_gate)
            hidden_states = gate * hidden_states + (1 - gate) * self.dropout(cross)
        hidden_states = hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))
        return hidden_states, self_weights, cross_weights


# ------------------------------------------------------------------------------------------ pretrained base


class EchoPreTrainedModel(PreTrainedModel):
    """Weights initialisation (the seed's scheme) and the declarations transformers reads."""

    config: EchoConfig
    base_model_prefix = "model"
    main_input_name = "input_features"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["EchoEncoderLayer", "EchoDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = False  # the soft zero mask is an additive bias; flash kernels take none
    _supports_flex_attn = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            # Only the audio front-ends have convolutions. Not the seed's 0.02 std: it shrinks the sound ~100x per
            # layer, so each view starts at ~1e-5 and its learned biases soon drown it in a constant the decoder
            # cannot hear through. He-normal weights keep every layer on its input's scale; zero biases keep the
            # views time-varying.
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, nn.RMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            init.zeros_(module.weight[self.config.pad_token_id])  # id 0 starts as "nothing"
        elif isinstance(module, EchoRotary):
            init.copy_(module.inv_freq, module.initial_inv_freq())
            init.zeros_(module.position_bias)
        elif isinstance(module, EchoDecoderLayer) and module.cross_gate is not None:
            init.constant_(module.cross_gate, self.config.cross_attention_gate_init)
        elif isinstance(module, EchoEncoder):
            if hasattr(module, "blend_logit"):
                init.constant_(module.blend_logit, self.config.blend_init)
            init.copy_(module.embed_positions, sinusoids(*module.embed_positions.shape))
        elif isinstance(module, EchoDecoder):
            init.normal_(module.embed_positions, mean=0.0, std=std)


# ------------------------------------------------------------------------------------------ encoder


def clip_lengths(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Valid frames (or samples) per clip from a (batch, time) mask of 1s and 0s, or None: without a mask, and on CPU
    when no clip is padded, the front-ends skip their per-layer masking, which computes the same then. On an
    accelerator that check would wait for the device at every forward, so there the masking always runs; so it does
    while tracing (`torch.compile`, ONNX export), where the check would fix one branch into the graph."""
    if mask is None:
        return None
    lengths = mask.sum(-1)
    tracing = torch.compiler.is_compiling()
    if mask.device.type == "cpu" and not tracing and bool((lengths == mask.shape[-1]).all()):
        return None
    return lengths


class EchoEncoder(EchoPreTrainedModel):
    """Audio encoder: spectrogram and waveform views blended as sigmoid(b) * spec + (1 - sigmoid(b)) * wave,
    sinusoidal positions, pre-norm blocks with rotary self-attention, final RMSNorm. Either view alone works, and
    `config.audio_views` can build the encoder with one view only."""

    def __init__(self, config: EchoConfig):
        super().__init__(config)
        # Each view is normalised before the blend, so neither drowns the other by scale alone.
        if config.audio_views in ("both", "spectrogram"):
            self.spectrogram_frontend = EchoSpectrogramFrontEnd(config)
            self.spectrogram_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        if config.audio_views in ("both", "waveform"):
            self.waveform_frontend = EchoWaveformFrontEnd(config)
            self.waveform_norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        if config.audio_views == "both":
            self.blend_logit = nn.Parameter(torch.tensor(float(config.blend_init)))
        head_dim = config.d_model // config.encoder_attention_heads
        self.rotary = EchoRotary(head_dim, config.max_source_positions, config.rotary_base, config.rotary_learned_freq)
        self.register_buffer(
            "embed_positions", sinusoids(config.max_source_positions, config.d_model), persistent=False
        )
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EchoEncoderLayer(config) for _ in range(config.encoder_layers))
        self.norm = nn.RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.post_init()

    def embed_audio(self, input_features, waveform, attention_mask, waveform_attention_mask):
        """Both views -> (batch, positions, d_model), the zero mask of the positions and each clip's valid positions.

        The spectrogram view sets the position count; the waveform view, which rounds its last position down, is
        padded to it (by at most one position when the strides agree, else the config is wrong).
        """
        views = self.config.audio_views
        if views == "waveform":
            input_features = attention_mask = None
        elif views == "spectrogram":
            waveform = waveform_attention_mask = None
        if input_features is None and waveform is None:
            needed = {"both": "`input_features` (log-mels), `waveform`, or both", "spectrogram": "`input_features`"}
            raise ValueError(f"Echo needs audio: pass {needed.get(views, '`waveform`')} (audio_views={views!r}).")
        if self.training and self.config.apply_spec_augment:
            input_features, waveform = spec_augment(
                input_features,
                waveform,
                clip_lengths(attention_mask),
                self.config,
                sample_lengths=clip_lengths(waveform_attention_mask),
            )
        if input_features is not None:
            hidden, lengths = self.spectrogram_frontend(input_features, clip_lengths(attention_mask))
            hidden = self.spectrogram_norm(hidden)
            is_zero = pool_zero_frames((input_features == 0).all(1), self.config.spectrogram_stride, hidden.shape[1])
        if waveform is not None:
            wave, wave_lengths = self.waveform_frontend(waveform, clip_lengths(waveform_attention_mask))
            wave = self.waveform_norm(wave)
            if input_features is None:
                hidden, lengths = wave, wave_lengths
                is_zero = pool_zero_frames(waveform == 0, self.config.samples_per_position, hidden.shape[1])
            else:
                missing = hidden.shape[1] - wave.shape[1]
                if not 0 <= missing <= 1:
                    raise ValueError(
                        f"The waveform view gives {wave.shape[1]} positions, the spectrogram view {hidden.shape[1]}: "
                        f"the product of `waveform_conv_strides` ({self.config.samples_per_position}) must equal the "
                        "feature extractor's `hop_length` times `spectrogram_stride`."
                    )
                blend = torch.sigmoid(self.blend_logit)
                hidden = blend * hidden + (1 - blend) * F.pad(wave, (0, 0, 0, missing))
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        if lengths is None:
            lengths = positions.new_full(hidden.shape[:1], hidden.shape[1])
        else:  # padding is "zero" even where the waveform had no exact zeros
            is_zero = is_zero | (positions >= lengths[:, None])
        return hidden, is_zero, lengths

    @can_return_tuple
    def forward(
        self,
        input_features: torch.FloatTensor | None = None,
        waveform: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        waveform_attention_mask: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> EchoEncoderOutput:
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        hidden, is_zero, lengths = self.embed_audio(input_features, waveform, attention_mask, waveform_attention_mask)
        positions = hidden.shape[1]
        if positions > self.config.max_source_positions:
            raise ValueError(
                f"The audio gives {positions} encoder positions but the model takes at most "
                f"{self.config.max_source_positions}: split long audio into chunks (the pipeline's `chunk_length_s`)."
            )
        hidden = self.dropout(hidden + self.embed_positions[:positions].to(hidden.dtype))
        rotary = self.rotary(torch.arange(positions, device=hidden.device))

        all_hidden, all_attentions = (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden,)
            hidden, weights = layer(hidden, is_zero, rotary, output_attentions)
            if output_attentions:
                all_attentions += (weights,)
        hidden = self.norm(hidden)
        return EchoEncoderOutput(
            last_hidden_state=hidden,
            zero_mask=is_zero,
            lengths=lengths,
            hidden_states=all_hidden + (hidden,) if output_hidden_states else None,
            attentions=all_attentions if output_attentions else None,
        )


# ------------------------------------------------------------------------------------------ decoder


class EchoDecoder(EchoPreTrainedModel):
    """Text decoder: token embedding (row 0 zero at init) + learned positions, optional rotary on the embeddings,
    pre-norm blocks with causal self-attention and cross-attention to the audio, final RMSNorm."""

    main_input_name = "input_ids"

    def __init__(self, config: EchoConfig):
        super().__init__(config)
        d, max_positions = config.d_model, config.max_target_positions
        self.embed_tokens = nn.Embedding(config.vocab_size, d)
        self.embed_positions = nn.Parameter(torch.zeros(max_positions, d))
        self.embedding_rotary = (
            EchoRotary(d, max_positions, config.rotary_base, config.rotary_learned_freq)
            if config.decoder_embedding_rotary
            else None
        )
        head_dim = d // config.decoder_attention_heads
        self.rotary = EchoRotary(head_dim, max_positions, config.rotary_base, config.rotary_learned_freq)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EchoDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.norm = nn.RMSNorm(d, eps=config.rms_norm_eps)
        self.post_init()

    def causal_mask(self, attention_mask, past_length, length: int, key_length: int, device) -> torch.Tensor | None:
        """Which keys each new token may attend to, as the attention functions take it.

        None when that is plain causality over the keys (no cache yet, or one new token after all cached ones): the
        attention functions apply it themselves. Else (batch or 1, 1, new tokens, keys), True = may attend: a static
        cache holds unwritten slots, a continued cache holds earlier tokens. A 4-D `attention_mask` is taken as this
        structure (generate builds one for static caches); a 2-D one (batch, keys) hides the keys where it is 0.
        """
        if attention_mask is not None and attention_mask.dim() == 4:
            return attention_mask
        dynamic = isinstance(past_length, int) and key_length == past_length + length
        if attention_mask is None and dynamic and (past_length == 0 or length == 1):
            return None
        query_positions = torch.arange(length, device=device) + past_length
        mask = (torch.arange(key_length, device=device) <= query_positions[:, None])[None, None]
        if attention_mask is not None:
            if attention_mask.dim() != 2 or attention_mask.shape[-1] != key_length:
                raise ValueError(
                    f"`decoder_attention_mask` has shape {tuple(attention_mask.shape)}; with {key_length} decoder "
                    "positions (cached and new) it must be (batch, positions) or 4-D. Echo needs none: token id 0 "
                    "carries its soft mask itself."
                )
            mask = mask & attention_mask[:, None, None, :].bool()
        return mask

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.FloatTensor | None = None,
        encoder_zero_mask: torch.BoolTensor | None = None,
        cache: Cache | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        r"""
        attention_mask (`torch.Tensor`, *optional*): hard structure over the decoder positions, (batch, cached + new)
            with 0 = hidden, or 4-D; not needed for id-0 tokens, which are soft-masked by their id.
        encoder_zero_mask (`torch.BoolTensor` of shape `(batch, audio positions)`): True where the audio is silent
            or padding (`EchoEncoderOutput.zero_mask`).
        cache / past_key_values (`EncoderDecoderCache`, *optional*): the key/value cache, under either name.
        """
        cache = pick_cache(cache, past_key_values)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        length = input_ids.shape[1]
        past_length = cache.get_seq_length() if cache is not None else 0
        key_length = cache.get_mask_sizes(length, 0)[0] if cache is not None else length
        if key_length > self.config.max_target_positions:
            raise ValueError(
                f"The decoder got {key_length} positions (cached and new) but takes at most "
                f"{self.config.max_target_positions} (`max_target_positions`): shorten the labels or max_new_tokens."
            )
        positions = torch.arange(length, device=input_ids.device) + past_length
        hidden = self.embed_tokens(input_ids) + self.embed_positions[positions]
        if self.embedding_rotary is not None:
            hidden = apply_rotary(hidden, self.embedding_rotary(positions))
        hidden = self.dropout(hidden)
        is_zero = input_ids == self.config.pad_token_id  # id 0 keys carry their soft mask into the cache
        causal_mask = self.causal_mask(attention_mask, past_length, length, key_length, input_ids.device)
        rotary = self.rotary(positions)

        all_hidden, self_attentions, cross_attentions = (), (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden,)
            hidden, self_weights, cross_weights = layer(
                hidden,
                encoder_hidden_states,
                is_zero,
                encoder_zero_mask,
                causal_mask,
                rotary,
                cache=cache,
                output_attentions=output_attentions,
            )
            if output_attentions:
                self_attentions += (self_weights,)
                cross_attentions += (cross_weights,)
        hidden = self.norm(hidden)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden,
            hidden_states=all_hidden + (hidden,) if output_hidden_states else None,
            attentions=self_attentions if output_attentions else None,
            cross_attentions=cross_attentions if output_attentions else None,
            **{CACHE_FIELD: cache if use_cache else None},
        )


# ------------------------------------------------------------------------------------------ models


def shift_tokens_right(labels: torch.LongTensor, decoder_start_token_id: int) -> torch.LongTensor:
    """Decoder inputs from labels: start token first, -100 (ignored) positions become id 0."""
    shifted = labels.new_full(labels.shape, decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, 0)


def as_encoder_output(encoder_outputs: ModelOutput | tuple) -> ModelOutput:
    """`encoder_outputs` as given to `forward`: an output object, or a tuple read as `EchoEncoderOutput`'s fields in
    order (`last_hidden_state`, `zero_mask`, ...), which is what `EchoEncoderOutput.to_tuple()` gives."""
    if isinstance(encoder_outputs, ModelOutput):
        return encoder_outputs
    return EchoEncoderOutput(*encoder_outputs)


class EchoModel(EchoPreTrainedModel):
    """Bare Echo encoder-decoder returning the decoder's hidden states."""

    def __init__(self, config: EchoConfig):
        super().__init__(config)
        self.encoder = EchoEncoder(config)
        self.decoder = EchoDecoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        self.decoder.embed_tokens = value

    def get_encoder(self, modality: str | None = None) -> EchoEncoder:
        return self.encoder

    def encode(
        self,
        input_features: torch.FloatTensor | None,
        waveform: torch.FloatTensor | None,
        attention_mask: torch.LongTensor | None,
        waveform_attention_mask: torch.LongTensor | None,
        encoder_outputs: EchoEncoderOutput | tuple | None,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
    ) -> ModelOutput:
        """`encoder_outputs` as an output object, computed from the audio when not given."""
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_features,
                waveform,
                attention_mask,
                waveform_attention_mask,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
        return as_encoder_output(encoder_outputs)

    @can_return_tuple
    def forward(
        self,
        input_features: torch.FloatTensor | None = None,
        waveform: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        waveform_attention_mask: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: EchoEncoderOutput | tuple | None = None,
        cache: Cache | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> Seq2SeqModelOutput:
        r"""
        attention_mask / waveform_attention_mask (`torch.LongTensor`, *optional*): 1 for the valid mel frames /
            samples of each clip, 0 for padding (the feature extractor returns both).
        encoder_outputs (`EchoEncoderOutput` or tuple, *optional*): the encoder's output, reused across decoding steps.
        """
        if decoder_input_ids is None:
            # What transformers' own ASR pipeline does when it takes Echo for a CTC model (a folder saved by an older
            # echo_hf, without `custom_pipelines`): say what to do instead of failing on a None inside.
            raise ValueError(
                "Echo's forward needs `decoder_input_ids` or `labels`. To transcribe, use `generate()` or "
                '`pipeline("automatic-speech-recognition", model=folder, trust_remote_code=True)`; a folder saved by '
                "an older echo_hf needs to be loaded and saved again for that."
            )
        encoder_outputs = self.encode(
            input_features, waveform, attention_mask, waveform_attention_mask, encoder_outputs, output_attentions,
            output_hidden_states,
        )  # fmt: skip
        decoder_outputs = self.decoder(
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs.last_hidden_state,
            encoder_outputs.get("zero_mask"),
            cache=pick_cache(cache, past_key_values),
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.get("hidden_states"),
            encoder_attentions=encoder_outputs.get("attentions"),
            **{CACHE_FIELD: decoder_outputs[CACHE_FIELD] if CACHE_FIELD in decoder_outputs else None},
        )


class EchoForConditionalGeneration(EchoPreTrainedModel, GenerationMixin):
    """Echo with its language-model head (tied to the token embedding): training loss and `generate()`."""

    _tied_weights_keys = {"proj_out.weight": "model.decoder.embed_tokens.weight"}
    accepts_loss_kwargs = True  # the Trainer then passes `num_items_in_batch`, which `forward` names

    def __init__(self, config: EchoConfig):
        super().__init__(config)
        self.model = EchoModel(config)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # Per-position token scores for the auxiliary CTC loss; only built when the loss is on.
        self.ctc_head = nn.Linear(config.d_model, config.vocab_size) if config.ctc_loss_weight > 0 else None
        self.post_init()

    def get_encoder(self, modality: str | None = None) -> EchoEncoder:
        return self.model.encoder

    def get_output_embeddings(self) -> nn.Linear:
        return self.proj_out

    def set_output_embeddings(self, value: nn.Linear):
        self.proj_out = value

    @can_return_tuple
    def forward(
        self,
        input_features: torch.FloatTensor | None = None,
        waveform: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        waveform_attention_mask: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: EchoEncoderOutput | tuple | None = None,
        cache: Cache | None = None,
        past_key_values: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> Seq2SeqLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch, tokens)`): target ids, each transcript ending with its id 0
            (end of text) and padded with -100. Decoder inputs are the labels shifted right after start id 0.
        num_items_in_batch: number of target tokens over all gradient-accumulation micro-batches (the Trainer
            passes it), so the loss is a mean over the whole accumulated batch.
        """
        if labels is not None:
            if labels.shape[1] > self.config.max_target_positions:
                raise ValueError(
                    f"Labels have {labels.shape[1]} tokens but the model takes at most "
                    f"{self.config.max_target_positions}: filter or split long transcripts."
                )
            if decoder_input_ids is None:
                decoder_input_ids = shift_tokens_right(labels, self.config.decoder_start_token_id)
            use_cache = False
        # Encoded here, not in the model, because the CTC loss needs the encoder's lengths.
        encoder_outputs = self.model.encode(
            input_features, waveform, attention_mask, waveform_attention_mask, encoder_outputs, output_attentions,
            output_hidden_states,
        )  # fmt: skip
        outputs = self.model(
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=pick_cache(cache, past_key_values),
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.proj_out(outputs.last_hidden_state)  # (batch, tokens, vocab)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            # One normaliser for both losses: the target tokens of the whole (accumulated) batch.
            items = num_items_in_batch if num_items_in_batch is not None else (labels != -100).sum()
            loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
            loss = loss / items
            if self.ctc_head is not None:
                ctc = self.ctc_loss(encoder_outputs.last_hidden_state, encoder_outputs.get("lengths"), labels) / items
                loss = (1 - self.config.ctc_loss_weight) * loss + self.config.ctc_loss_weight * ctc
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
            **{CACHE_FIELD: outputs[CACHE_FIELD] if CACHE_FIELD in outputs else None},
        )

    def ctc_loss(self, encoder_states: torch.Tensor, lengths: torch.LongTensor | None, labels: torch.LongTensor):
        """Summed CTC loss of the encoder states over their valid `lengths` (all positions when None) against the
        labels without their -100 padding and end id 0 (id 0 is the blank). Clips too short for their transcript
        contribute 0 rather than infinity."""
        if lengths is None:
            lengths = torch.full(encoder_states.shape[:1], encoder_states.shape[1], dtype=torch.long)
        log_probs = F.log_softmax(self.ctc_head(encoder_states).float(), dim=-1).transpose(0, 1)  # (time, batch, V)
        keep = labels > 0
        return F.ctc_loss(
            log_probs,
            labels[keep],
            lengths.to(labels.device),
            keep.sum(-1),
            blank=0,
            reduction="sum",
            zero_infinity=True,
        )

    @torch.no_grad()
    def generate(
        self,
        inputs: torch.FloatTensor | None = None,
        generation_config: GenerationConfig | None = None,
        *args,
        **kwargs,
    ) -> torch.LongTensor | GenerateOutput:
        """Transcribe: encode the audio once (either view or both), then decode with the cache.

        The arguments are `GenerationMixin.generate`'s, in its order; `inputs` is the log-mels (`input_features`
        also works, as the ASR pipeline passes them), and the other audio inputs are keywords: `waveform`,
        `attention_mask` (mel frames), `waveform_attention_mask`, or a ready `encoder_outputs`. Without a length
        (`max_new_tokens` or `max_length`, in the call or a generation config) a transcript may fill the decoder.

        Two options use the encoder's CTC head (keywords, or attributes of the generation config; both off when
        unset), and raise a ValueError on a model without one:

        - `ctc_weight` (in (0, 1]): joint CTC/attention decoding (`ctc_decoding_echo.CTCPrefixScorer`), with greedy
          search or `num_beams`; `ctc_candidates` (default 8) tokens are scored per hypothesis and step.
        - `no_speech_threshold` (in [0, 1]): a clip whose mean CTC blank probability over its encoder positions
          (`no_speech_probability`) is above this is transcribed as empty, without decoding it.
        """
        if inputs is not None and kwargs.get("input_features") is not None:
            raise ValueError("Pass the log-mels once: as `inputs` or as `input_features`, not both.")
        features = kwargs.pop("input_features", None) if inputs is None else inputs
        audio = {name: kwargs.pop(name, None) for name in ("waveform", "waveform_attention_mask")}
        # `attention_mask` (the mel frames') stays in the keywords too: generate() reads it as the encoder's mask, as
        # for any speech seq2seq model, and warns about padded batches without one.
        audio["attention_mask"] = kwargs.get("attention_mask")
        config = generation_config if generation_config is not None else self.generation_config
        if kwargs.get("encoder_outputs") is None:
            kwargs["encoder_outputs"] = self.get_encoder()(
                features,
                **audio,
                output_attentions=kwargs.get("output_attentions", config.output_attentions),
                output_hidden_states=kwargs.get("output_hidden_states", config.output_hidden_states),
                return_dict=True,
            )
        elif features is not None or any(
            value is not None for value in (audio["waveform"], audio["waveform_attention_mask"])
        ):
            # the mel frames' `attention_mask` may come along: generate() reads it for a padded batch, as for any
            # speech seq2seq model, and the encoder output already carries what it masks
            raise ValueError("Pass either the audio or `encoder_outputs`, not both.")
        ctc_weight, candidates, no_speech_threshold = (
            kwargs.pop(name, getattr(config, name, default))
            for name, default in (("ctc_weight", None), ("ctc_candidates", 8), ("no_speech_threshold", None))
        )
        if ctc_weight or no_speech_threshold is not None:
            option = "ctc_weight" if ctc_weight else "no_speech_threshold"
            log_probs, lengths = self.ctc_log_probs(as_encoder_output(kwargs["encoder_outputs"]), option)
        if no_speech_threshold is not None:
            if not 0 <= no_speech_threshold <= 1:
                raise ValueError(f"`no_speech_threshold` is a probability in [0, 1], got {no_speech_threshold}.")
            speech = no_speech_probability(log_probs, lengths) <= no_speech_threshold
            if not bool(speech.all()):
                options = {"ctc_weight": ctc_weight, "ctc_candidates": candidates, "no_speech_threshold": None}
                return self._generate_speech_only(speech, generation_config, *args, **options, **kwargs)
        if ctc_weight:
            scorer = CTCPrefixScorer(log_probs, lengths, ctc_weight, candidates)
            kwargs["logits_processor"] = LogitsProcessorList([*(kwargs.get("logits_processor") or []), scorer])
        # Set here, not in the generation config: one set there makes every `max_new_tokens` call warn.
        lengths = (kwargs.get("max_length"), kwargs.get("max_new_tokens"), config.max_length, config.max_new_tokens)
        if all(length is None for length in lengths):
            kwargs["max_length"] = self.config.max_target_positions  # the start token included
        return super().generate(None, generation_config, *args, **kwargs)

    def ctc_log_probs(self, encoder_outputs: ModelOutput, option: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The CTC head's log-probabilities (batch, positions, vocab) of `encoder_outputs` and each clip's valid
        positions; a ValueError naming the generation `option` that needs them when the model has no CTC head."""
        if self.ctc_head is None:
            raise ValueError(
                f"`{option}` reads the encoder's CTC head, and this model has none (it was trained with "
                "`ctc_loss_weight=0`)."
            )
        states = encoder_outputs.last_hidden_state
        lengths = encoder_outputs.get("lengths")
        if lengths is None:
            lengths = torch.full(states.shape[:1], states.shape[1], dtype=torch.long, device=states.device)
        return self.ctc_head(states).float().log_softmax(-1), lengths

    def _generate_speech_only(self, speech: torch.Tensor, generation_config, *args, **kwargs) -> torch.LongTensor:
        """Decode only the clips in `speech` (batch,); the others get the empty transcript: start, end of text."""
        config = generation_config if generation_config is not None else self.generation_config
        for option in ("return_dict_in_generate", "num_return_sequences"):
            if kwargs.get(option, getattr(config, option, None)) not in (None, False, 1):
                raise ValueError(f"`no_speech_threshold` returns one sequence of token ids per clip: drop `{option}`.")
        encoded = as_encoder_output(kwargs.pop("encoder_outputs"))
        batch = speech.shape[0]
        empty = torch.zeros(batch, 2, dtype=torch.long, device=speech.device)
        if not bool(speech.any()):
            return empty
        keep = speech.nonzero().squeeze(1)
        for name in ("attention_mask", "decoder_input_ids", "decoder_attention_mask"):  # per-clip inputs
            if isinstance(kwargs.get(name), torch.Tensor) and kwargs[name].shape[0] == batch:
                kwargs[name] = kwargs[name][keep]
        subset = type(encoded)(**{
            name: value[keep] if isinstance(value, torch.Tensor) and value.shape[:1] == (batch,) else value
            for name, value in encoded.items()
        })  # fmt: skip
        decoded = self.generate(None, generation_config, *args, encoder_outputs=subset, **kwargs)
        tokens = torch.full((batch, max(decoded.shape[1], 2)), self.config.pad_token_id, dtype=torch.long)
        tokens = tokens.to(decoded.device)
        tokens[keep, : decoded.shape[1]] = decoded
        return tokens


__all__ = ["EchoPreTrainedModel", "EchoEncoder", "EchoDecoder", "EchoModel", "EchoForConditionalGeneration"]
