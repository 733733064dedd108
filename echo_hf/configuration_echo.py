"""Configuration of the Echo speech recogniser."""

import copy
import math
from typing import TYPE_CHECKING, Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

if TYPE_CHECKING:
    # Never run. transformers finds the files a code file needs by reading its relative imports, and copies them
    # with it: into every folder `save_pretrained` writes, and into the module cache when remote code loads this file.
    # This line makes pipeline_echo.py (and the files it imports) travel with the config.json that names it.
    from .pipeline_echo import EchoSpeechRecognitionPipeline  # noqa: F401

ZERO_ATTENTION_MODES = ("bias", "scale_logits")
AUDIO_VIEWS = ("both", "spectrogram", "waveform")
CROSS_ATTENTION_RESIDUALS = ("gate", "add")
# Written into every config.json: `pipeline("automatic-speech-recognition", model=folder, trust_remote_code=True)`
# then builds Echo's pipeline from the folder's pipeline_echo.py, instead of transformers' own, which takes Echo
# for a CTC model.
ECHO_PIPELINES = {
    "automatic-speech-recognition": {
        "impl": "pipeline_echo.EchoSpeechRecognitionPipeline",
        "pt": ["AutoModelForSpeechSeq2Seq"],
        "type": "multimodal",
    }
}


@strict
class EchoConfig(PreTrainedConfig):
    r"""
    Configuration of an [`EchoForConditionalGeneration`] model: every dimension and option of the
    architecture lives here. The defaults are the seed's dimensions (`configs/seed.json`).

    Args:
        vocab_size (`int`, defaults to 51865):
            Number of tokens; must equal `len(tokenizer)`.
        num_mel_bins (`int`, defaults to 128):
            Mel bins of the spectrogram view; must equal the feature extractor's `feature_size`.
        d_model (`int`, defaults to 512):
            Width of the encoder and the decoder.
        encoder_layers (`int`, defaults to 4):
            Number of encoder blocks.
        encoder_attention_heads (`int`, defaults to 4):
            Heads of encoder self-attention.
        encoder_ffn_dim (`int`, defaults to 2048):
            Hidden width of the encoder MLPs.
        decoder_layers (`int`, defaults to 4):
            Number of decoder blocks.
        decoder_attention_heads (`int`, defaults to 4):
            Heads of decoder self- and cross-attention.
        decoder_ffn_dim (`int`, defaults to 2048):
            Hidden width of the decoder MLPs.
        max_source_positions (`int`, defaults to 1500):
            Most encoder positions (audio frames after the front-end). With a hop of 160 samples and
            `spectrogram_stride=2` this is 30 s of 16 kHz audio.
        max_target_positions (`int`, defaults to 512):
            Most decoder positions (tokens, the start token included).
        activation_function (`str`, defaults to `"gelu"`):
            Activation of the MLPs and the convolutional front-ends (any key of `transformers.activations.ACT2FN`).
        dropout (`float`, defaults to 0.1):
            Dropout on residual branches, embeddings and the spectrogram front-end.
        attention_dropout (`float`, defaults to 0.0):
            Dropout on attention weights.
        rms_norm_eps (`float`, defaults to 1e-6):
            Epsilon of every RMSNorm.
        init_std (`float`, defaults to 0.02):
            Standard deviation of the normal initialisation of the token and decoder position embeddings
            (linear layers are Xavier-uniform, convolutions He-normal).
        spectrogram_stride (`int`, defaults to 2):
            Stride of the dilated convolution of the spectrogram front-end: mel frames per encoder position.
        squeeze_excitation_reduction (`int`, defaults to 16):
            Channel reduction of the squeeze-excitation block of the spectrogram front-end.
        waveform_conv_channels (`list[int]`, defaults to `[32, 64, 128, 512]`):
            Output channels of the waveform front-end's strided convolutions; the last must equal `d_model`.
            Lighter than the seed's `[64, 128, 256, 512]` with kernels `[11, 8, 4, 4]` and strides `[5, 4, 4, 4]`,
            whose early high-rate layers made the waveform view ~40% of a 30 s training step (BENCHMARKS.md).
        waveform_conv_kernels (`list[int]`, defaults to `[20, 8, 4, 4]`):
            Kernel sizes of the waveform convolutions. Each is padded by `(kernel - stride) / 2`, so
            `kernel - stride` must be even: then n samples give exactly floor(n / product of strides) positions.
        waveform_conv_strides (`list[int]`, defaults to `[10, 4, 4, 2]`):
            Strides of the waveform convolutions. Their product (samples per encoder position) should equal
            `hop_length * spectrogram_stride` (320) so that the two views share one frame rate.
        audio_views (`str`, defaults to `"both"`):
            Which views the encoder hears: `"both"` (blended), `"spectrogram"` or `"waveform"` alone. A model of one
            view has no front-end, norm or blend weight for the other, and ignores that input if it is given.
        blend_init (`float`, defaults to 0.5):
            Initial logit `b` of the view blend `sigmoid(b) * spectrogram + (1 - sigmoid(b)) * waveform`.
        cross_attention_residual (`str`, defaults to `"gate"`):
            `"gate"` mixes cross-attention into the stream as `sigmoid(g) * x + (1 - sigmoid(g)) * cross` with a
            learnable `g` per layer (the seed's design); `"add"` is the standard residual `x + cross`.
        cross_attention_gate_init (`float`, defaults to 0.5):
            Initial logit `g` of the cross-attention gate.
        decoder_embedding_rotary (`bool`, defaults to `True`):
            Rotate the token embeddings by position before the first decoder block (the seed's decoder rotary).
        rotary_learned_freq (`bool`, defaults to `True`):
            Whether the rotary inverse frequencies are learned.
        rotary_base (`float`, defaults to 10000.0):
            Base of the initial rotary inverse frequencies.
        apply_spec_augment (`bool`, defaults to `False`):
            In training only, mask spans of the inputs as SpecAugment does (and as Whisper's config of the same
            names): time spans of the log-mels and the same spans of the waveform are set to 0, which Echo then reads
            as silence; frequency bands of the log-mels are set to 0.
        mask_time_prob (`float`, defaults to 0.05):
            Expected share of each clip's mel frames covered by time masks.
        mask_time_length (`int`, defaults to 10):
            Length of each time mask, in mel frames (10 ms each).
        mask_time_min_masks (`int`, defaults to 2):
            Fewest time masks per clip (a clip not longer than one mask gets none).
        mask_feature_prob (`float`, defaults to 0.0):
            Expected share of the mel bins covered by frequency masks.
        mask_feature_length (`int`, defaults to 10):
            Width of each frequency mask, in mel bins.
        mask_feature_min_masks (`int`, defaults to 0):
            Fewest frequency masks per clip.
        zero_attention_epsilon (`float`, defaults to 1e-6):
            Keys that are "zero" (token id 0, silent or padded audio frames) have their post-softmax weight
            multiplied by this factor before renormalisation. 0 gives a hard mask.
        zero_attention_mode (`str`, defaults to `"bias"`):
            `"bias"` adds `log(zero_attention_epsilon)` to the logits of zero keys (exact, runs in SDPA);
            `"scale_logits"` multiplies their logits by epsilon, as the seed's code does (eager attention only).
        ctc_loss_weight (`float`, defaults to 0.0):
            Weight `w` of an auxiliary CTC loss on the encoder output: training loss `(1 - w) * cross-entropy +
            w * CTC`, with token id 0 as the CTC blank. It gives the encoder a direct, monotonic target, which
            small models on little data need to start hearing; 0 builds no CTC head. At inference the head gives
            word timestamps, joint CTC/attention decoding (`generate(ctc_weight=...)`) and the no-speech check
            (`generate(no_speech_threshold=...)`).
        alignment_heads (`list[list[int]]`, *optional*):
            `[layer, head]` pairs of decoder cross-attention heads whose weights time the words of a model without
            a CTC head (DTW, as Whisper does; `alignment_echo.attention_token_spans`). Defaults to every head of
            the upper half of the decoder, as in the seed; empty turns that off.
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id (`int`, defaults to 0):
            Token id 0 is the only special token: padding, decoder start and end of text.
        tie_word_embeddings (`bool`, defaults to `True`):
            Tie the output projection to the token embedding.
        use_cache (`bool`, defaults to `True`):
            Return key/value caches for incremental decoding.
    """

    model_type = "echo"
    # Whether configs carry `custom_pipelines` (what `pipeline()` reads). `import echo_hf` turns it off: the task's
    # registered pipeline is then Echo's already, and a config naming a custom pipeline would make
    # `pipeline(task, model=folder)` demand `trust_remote_code=True`. config.json names it either way (`to_dict`).
    names_custom_pipeline = True
    # The cache is not a prediction: the Trainer drops it from eval outputs (5.24 calls it `cache`).
    keys_to_ignore_at_inference = ["cache", "past_key_values"]
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "num_hidden_layers": "encoder_layers",
    }

    vocab_size: int = 51865
    num_mel_bins: int = 128
    d_model: int = 512
    encoder_layers: int = 4
    encoder_attention_heads: int = 4
    encoder_ffn_dim: int = 2048
    decoder_layers: int = 4
    decoder_attention_heads: int = 4
    decoder_ffn_dim: int = 2048
    max_source_positions: int = 1500
    max_target_positions: int = 512
    activation_function: str = "gelu"
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    rms_norm_eps: float = 1e-6
    init_std: float = 0.02
    spectrogram_stride: int = 2
    squeeze_excitation_reduction: int = 16
    waveform_conv_channels: list[int] | tuple[int, ...] = (32, 64, 128, 512)
    waveform_conv_kernels: list[int] | tuple[int, ...] = (20, 8, 4, 4)
    waveform_conv_strides: list[int] | tuple[int, ...] = (10, 4, 4, 2)
    audio_views: str = "both"
    blend_init: float | int = 0.5
    cross_attention_residual: str = "gate"
    cross_attention_gate_init: float | int = 0.5
    decoder_embedding_rotary: bool = True
    rotary_learned_freq: bool = True
    rotary_base: float | int = 10000.0
    apply_spec_augment: bool = False
    mask_time_prob: float | int = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float | int = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    zero_attention_epsilon: float | int = 1e-6
    zero_attention_mode: str = "bias"
    ctc_loss_weight: float | int = 0.0
    alignment_heads: list | None = None
    pad_token_id: int | None = 0
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 0
    decoder_start_token_id: int = 0
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        kwargs.pop("custom_pipelines", None)  # always ECHO_PIPELINES, set below
        self.waveform_conv_channels = list(self.waveform_conv_channels)
        self.waveform_conv_kernels = list(self.waveform_conv_kernels)
        self.waveform_conv_strides = list(self.waveform_conv_strides)
        if self.alignment_heads is None:
            self.alignment_heads = [
                [layer, head]
                for layer in range(self.decoder_layers // 2, self.decoder_layers)
                for head in range(self.decoder_attention_heads)
            ]
        super().__post_init__(**kwargs)
        # `@strict` runs `validate_architecture` too, but re-raises its ValueError as a
        # `StrictDataclassClassValidationError`, which is not one: run it here first so that a bad config
        # raises the documented ValueError. (`save_pretrained` re-validates through `@strict`.)
        self.validate_architecture()
        if self.names_custom_pipeline:
            self.custom_pipelines = copy.deepcopy(ECHO_PIPELINES)  # pipeline() edits it in place

    def validate_architecture(self):
        """Raise a `ValueError` naming the option when the dimensions cannot build a model."""
        for width, heads, name in (
            (self.d_model, self.encoder_attention_heads, "encoder_attention_heads"),
            (self.d_model, self.decoder_attention_heads, "decoder_attention_heads"),
        ):
            if width % heads or (width // heads) % 2:
                raise ValueError(f"d_model={width} must split into {name}={heads} heads of even size (rotary).")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even for the sinusoidal positions, got {self.d_model}.")
        convs = (self.waveform_conv_channels, self.waveform_conv_kernels, self.waveform_conv_strides)
        if len({len(c) for c in convs}) != 1 or not self.waveform_conv_channels:
            raise ValueError(
                "waveform_conv_channels, waveform_conv_kernels and waveform_conv_strides must be non-empty lists "
                f"of one length, got {[len(c) for c in convs]}."
            )
        if any((k - s) % 2 for k, s in zip(self.waveform_conv_kernels, self.waveform_conv_strides, strict=True)):
            raise ValueError(
                "Each waveform kernel minus its stride must be even (symmetric padding keeps lengths exact), got "
                f"kernels {self.waveform_conv_kernels} and strides {self.waveform_conv_strides}."
            )
        if self.waveform_conv_channels[-1] != self.d_model:
            raise ValueError(
                f"waveform_conv_channels must end with d_model={self.d_model}, got {self.waveform_conv_channels}."
            )
        if self.zero_attention_mode not in ZERO_ATTENTION_MODES:
            raise ValueError(
                f"zero_attention_mode must be one of {ZERO_ATTENTION_MODES}, got {self.zero_attention_mode!r}."
            )
        if self.cross_attention_residual not in CROSS_ATTENTION_RESIDUALS:
            raise ValueError(
                f"cross_attention_residual must be one of {CROSS_ATTENTION_RESIDUALS}, "
                f"got {self.cross_attention_residual!r}."
            )
        if self.audio_views not in AUDIO_VIEWS:
            raise ValueError(f"audio_views must be one of {AUDIO_VIEWS}, got {self.audio_views!r}.")
        for name in ("mask_time_prob", "mask_feature_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}.")
        for name in ("mask_time_length", "mask_feature_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("mask_time_min_masks", "mask_feature_min_masks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}.")
        if not 0.0 <= self.zero_attention_epsilon < 1.0:
            raise ValueError(
                f"zero_attention_epsilon must be in [0, 1) (0 is a hard mask), got {self.zero_attention_epsilon}."
            )
        if not 0.0 <= self.ctc_loss_weight < 1.0:
            raise ValueError(f"ctc_loss_weight must be in [0, 1) (0 disables CTC), got {self.ctc_loss_weight}.")
        eos_token_ids = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        if {self.pad_token_id, *eos_token_ids, self.decoder_start_token_id} != {0}:
            raise ValueError(
                "Echo uses token id 0 as pad, end of text and decoder start; got pad_token_id="
                f"{self.pad_token_id}, eos_token_id={self.eos_token_id}, "
                f"decoder_start_token_id={self.decoder_start_token_id}."
            )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "custom_pipelines": copy.deepcopy(ECHO_PIPELINES)}

    @property
    def samples_per_position(self) -> int:
        """Audio samples behind one encoder position in the waveform view."""
        return math.prod(self.waveform_conv_strides)


__all__ = ["EchoConfig"]
