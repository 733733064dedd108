"""Run an exported Echo folder with ONNX Runtime: greedy decoding in numpy, behind the same ASR pipeline.

    from echo_hf.onnx import EchoOnnxForConditionalGeneration
    model = EchoOnnxForConditionalGeneration.from_pretrained("runs/demo-onnx", variant="int8")
    asr = pipeline("automatic-speech-recognition", model=model, tokenizer=..., feature_extractor=...)

Nothing of the PyTorch model runs: the encoder graph gives each decoder layer's cross keys/values once per batch, and
each step feeds the decoder graph one token per clip with the cache it returned the step before. The config and the
graphs are checked against each other on load, so a folder that does not match fails there, not mid-transcription.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig

from ..configuration_echo import EchoConfig
from .export_echo import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    FORMAT_VERSION,
    MANIFEST,
    TRACED_CONFIG,
)

# What greedy decoding here honours. Any other generation setting must be unset or neutral (below), else it is refused.
SUPPORTED_GENERATION = {
    "max_length",
    "max_new_tokens",
    "min_length",
    "min_new_tokens",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "use_cache",
    "cache_implementation",
    "transformers_version",
    "_from_model_config",
}
NEUTRAL_GENERATION = {
    "num_beams": 1,
    "num_return_sequences": 1,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
}
# Only read by sampling or beam search, which are refused themselves.
SAMPLING_OR_BEAM_ONLY = {
    "temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff", "eta_cutoff",
    "length_penalty", "early_stopping", "num_beam_groups", "diversity_penalty",
}  # fmt: skip

NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class EchoOnnxForConditionalGeneration:
    """An exported Echo (``echo_hf.onnx.export_echo``) on ONNX Runtime, with a `generate()` for greedy decoding.

    It has what transformers' ASR pipeline asks of a model (`config`, `generation_config`, `device`, `can_generate`),
    so `pipeline("automatic-speech-recognition", model=this, ...)` builds Echo's pipeline around it.
    """

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, folder: Path, variant: str, sessions: dict, config: EchoConfig, generation_config):
        self.name_or_path, self.variant = str(folder), variant
        self.encoder, self.decoder = sessions["encoder"], sessions["decoder"]
        self.config, self.generation_config = config, generation_config

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, variant: str = "fp32", providers: list[str] | None = None, threads: int | None = None
    ) -> EchoOnnxForConditionalGeneration:
        """Load `folder` written by `export_echo`; `variant` is "fp32" or "int8". Raises ValueError on a mismatch."""
        import onnx
        import onnxruntime

        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise ValueError(
                f"{str(folder)!r} has no {MANIFEST}: export a model with `python -m echo_hf.onnx.export_echo`."
            )
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{str(folder)!r} was written in ONNX folder format {manifest.get('format_version')!r}; this echo_hf "
                f"reads format {FORMAT_VERSION}: export the model again."
            )
        if variant not in manifest["variants"]:
            raise ValueError(f"{str(folder)!r} has no {variant!r} graphs; it has {sorted(manifest['variants'])}.")
        config = EchoConfig.from_pretrained(folder)
        changed = {
            name: (traced, getattr(config, name, None))
            for name, traced in manifest["config"].items()
            if name in TRACED_CONFIG and getattr(config, name, None) != traced
        }
        if changed:
            detail = ", ".join(f"{name}: graphs {old!r}, config.json {new!r}" for name, (old, new) in changed.items())
            raise ValueError(
                f"The ONNX graphs in {str(folder)!r} were exported from another config ({detail}): export the model "
                "again rather than editing config.json."
            )
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        sessions = {}
        for graph, names in (
            ("encoder", (ENCODER_INPUTS, ENCODER_OUTPUTS)),
            ("decoder", (DECODER_INPUTS, DECODER_OUTPUTS)),
        ):
            path = folder / manifest["variants"][variant] / manifest["graphs"][graph]
            opsets = {
                entry.domain or "ai.onnx": entry.version
                for entry in onnx.load(path, load_external_data=False).opset_import
            }
            if opsets.get("ai.onnx") != manifest["opset"]:
                raise ValueError(
                    f"{path} uses ONNX opset {opsets.get('ai.onnx')}, but {MANIFEST} says {manifest['opset']}: the "
                    "folder mixes exports; export the model again."
                )
            session = onnxruntime.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
            found = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
            if tuple(found[0]) != names[0] or tuple(found[1]) != names[1]:
                raise ValueError(f"{path} has inputs {found[0]} and outputs {found[1]}, not Echo's {names}.")
            sessions[graph] = session
        layers, _, heads, _, _ = sessions["encoder"].get_outputs()[0].shape
        vocab = sessions["decoder"].get_outputs()[0].shape[-1]
        traced = (layers, heads, vocab)
        if traced != (config.decoder_layers, config.decoder_attention_heads, config.vocab_size):
            raise ValueError(
                f"The graphs in {str(folder)!r} have (decoder layers, heads, vocabulary) = {traced}, the config "
                f"{(config.decoder_layers, config.decoder_attention_heads, config.vocab_size)}: export the model again."
            )
        generation_config = (
            GenerationConfig.from_pretrained(folder)
            if (folder / "generation_config.json").is_file()
            else GenerationConfig.from_model_config(config)
        )
        return cls(folder, variant, sessions, config, generation_config)

    # What transformers' pipeline calls on a model.
    def can_generate(self) -> bool:
        return True

    def to(self, device) -> EchoOnnxForConditionalGeneration:
        if torch.device(device).type != "cpu":
            raise ValueError(f"This ONNX model runs on the CPU execution provider; got device {device!r}.")
        return self

    def eval(self) -> EchoOnnxForConditionalGeneration:
        return self

    def _decoding_config(self, generation_config: GenerationConfig | None, kwargs: dict) -> GenerationConfig:
        """As transformers builds it: the model's generation config, the values the caller's config sets, then the
        keywords; refused when it asks for anything greedy decoding here does not do."""
        config = copy.deepcopy(self.generation_config)
        if generation_config is not None:
            config.update(**{k: v for k, v in generation_config.to_dict().items() if v is not None})
        unused = {name: value for name, value in config.update(**kwargs).items() if value is not None}
        if unused:
            raise ValueError(f"The ONNX Echo does not take {sorted(unused)} in generate().")
        if config.max_length is None and config.max_new_tokens is None:
            config.max_length = self.config.max_target_positions  # as Echo's generate(): may fill the decoder
        if config.decoder_start_token_id is None:
            config.decoder_start_token_id = config.bos_token_id
        if config.decoder_start_token_id is None:
            raise ValueError("The generation config sets no `decoder_start_token_id` (nor `bos_token_id`).")
        # transformers' own defaults (what Seq2SeqTrainer's evaluation writes into a config) are neutral too.
        defaults = {**GenerationConfig._get_default_generation_params(), **NEUTRAL_GENERATION}
        unsupported = sorted(
            name
            for name, value in config.to_diff_dict().items()
            if name not in SUPPORTED_GENERATION | SAMPLING_OR_BEAM_ONLY
            and value not in (None, False, [], {})
            and value != defaults.get(name)
        )
        if unsupported:
            raise ValueError(
                f"The ONNX Echo decodes greedily only; these generation settings are not supported: {unsupported}. "
                "Use the PyTorch model for beam search, sampling or logits processors."
            )
        return config

    def generate(
        self,
        inputs=None,
        generation_config: GenerationConfig | None = None,
        *,
        input_features=None,
        attention_mask=None,
        waveform=None,
        waveform_attention_mask=None,
        **kwargs,
    ) -> torch.LongTensor:
        """Greedy tokens (batch, length) for a batch of both views, as `EchoForConditionalGeneration.generate` gives
        them: decoder start id first, and each row padded with id 0 after its end of text.

        `inputs` is the log-mels (or pass `input_features`). The exported encoder takes both views: pass all four
        inputs the feature extractor returns."""
        if inputs is not None and input_features is not None:
            raise ValueError("Pass the log-mels once: as `inputs` or as `input_features`, not both.")
        views = {
            "input_features": input_features if inputs is None else inputs,
            "attention_mask": attention_mask,
            "waveform": waveform,
            "waveform_attention_mask": waveform_attention_mask,
        }
        missing = [name for name, value in views.items() if value is None]
        if missing:
            raise ValueError(
                "The ONNX Echo needs both views and their masks, as the feature extractor returns them; "
                f"missing {missing}."
            )
        config = self._decoding_config(generation_config, kwargs)
        inputs = {  # in the graph's own dtypes (the masks' are whatever the traced feature extractor gave)
            graph_input.name: _numpy(views[graph_input.name], NUMPY_TYPES[graph_input.type])
            for graph_input in self.encoder.get_inputs()
        }
        cross_keys, cross_values = self.encoder.run(list(ENCODER_OUTPUTS), inputs)
        return torch.from_numpy(self._greedy(cross_keys, cross_values, config))

    def _greedy(self, cross_keys: np.ndarray, cross_values: np.ndarray, config: GenerationConfig) -> np.ndarray:
        eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        eos = [token for token in eos if token is not None]
        pad = config.pad_token_id if config.pad_token_id is not None else (eos or [0])[0]
        layers, batch, heads, _, channels = cross_keys.shape
        max_length = config.max_length if config.max_new_tokens is None else 1 + config.max_new_tokens
        # As in transformers, `min_new_tokens` overrides `min_length`; until then the end of text is barred.
        min_length = 1 + config.min_new_tokens if config.min_new_tokens is not None else (config.min_length or 0)
        tokens = np.full((batch, 1), config.decoder_start_token_id, dtype=np.int64)
        past = np.zeros((layers, batch, heads, 0, channels), dtype=cross_keys.dtype)
        past_keys, past_values = past, past
        done = np.zeros(batch, dtype=bool)
        while tokens.shape[1] < max_length and not done.all():
            if tokens.shape[1] > self.config.max_target_positions:  # the step would see more positions than traced
                raise ValueError(
                    f"The decoder got {tokens.shape[1]} positions (cached and new) but takes at most "
                    f"{self.config.max_target_positions} (`max_target_positions`): lower max_new_tokens or max_length."
                )
            logits, past_keys, past_values = self.decoder.run(
                list(DECODER_OUTPUTS),
                {
                    "input_ids": tokens[:, -1:],
                    "past_keys": past_keys,
                    "past_values": past_values,
                    "cross_keys": cross_keys,
                    "cross_values": cross_values,
                },
            )
            if tokens.shape[1] < min_length and eos:
                logits[:, eos] = -np.inf
            next_tokens = np.where(done, pad, logits.argmax(-1))
            tokens = np.concatenate([tokens, next_tokens[:, None]], axis=1)
            done |= np.isin(next_tokens, eos)
        return tokens


def _numpy(value, dtype) -> np.ndarray:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return array.astype(dtype, copy=False)


__all__ = ["EchoOnnxForConditionalGeneration"]
