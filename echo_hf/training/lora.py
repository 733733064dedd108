"""LoRA fine-tuning of Echo with `peft`: the run config's `lora` section, Echo's target module groups, merging.

A `lora` section in the run config wraps the model with `peft.get_peft_model` before `Seq2SeqTrainer` sees it:
only the low-rank matrices train, the base weights stay frozen. The run then saves the adapter with peft's own
`save_pretrained` (`adapter_config.json` + `adapter_model.safetensors`); with `merge: true` it also writes the merged
full model (`merge_and_unload`) to `<output_dir>/merged`, a folder `from_pretrained` loads like any other.

`peft` is an optional dependency (`pip install "echo_hf[lora]"`): it is imported only when a run uses LoRA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn
from transformers import GenerationConfig

from ..processing_echo import EchoProcessor

# Module names (the last part of a module's path, as peft's `target_modules` matches them), grouped by role.
TARGET_MODULE_GROUPS: dict[str, tuple[str, ...]] = {
    # Every attention: encoder self-attention, decoder self-attention and cross-attention.
    "attention": ("q_proj", "k_proj", "v_proj", "out_proj"),
    # The two linears of every encoder and decoder layer's MLP.
    "feed_forward": ("fc1", "fc2"),
    # The spectrogram front-end's convolutions that peft's LoRA conv reproduces exactly. Left out on purpose:
    # `conv_dilated` (peft's low-rank conv has no dilation, so its output has the wrong length), `conv_depthwise`
    # (grouped), and the waveform front-end's convs, which run as matrix products on `conv.weight`
    # (`conv1d_time_major`), so a LoRA wrapper around them would never be called. The blend is one scalar
    # parameter, not a module: LoRA cannot adapt it, and it stays frozen.
    "front_ends": ("conv_in", "conv_pointwise", "conv_out"),
}
MODULE_NAMES: tuple[str, ...] = tuple(name for group in TARGET_MODULE_GROUPS.values() for name in group)
MERGED_DIR = "merged"


@dataclass
class EchoLoraConfig:
    """The `lora` section of a run config.

    Args:
        r (`int`, defaults to 8): rank of the low-rank update (1 or more).
        alpha (`float`, defaults to 16): scale of the update, applied as `alpha / r` (more than 0).
        dropout (`float`, defaults to 0.0): dropout on the adapted layers' inputs, in [0, 1).
        target_modules (`list[str]`, defaults to `["attention", "feed_forward"]`): group names from
            `TARGET_MODULE_GROUPS` ("attention", "feed_forward", "front_ends") or single module names
            (`q_proj`, `fc1`, ...); groups expand to their modules.
        merge (`bool`, defaults to `False`): also write the merged full model to `<output_dir>/merged`.
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["attention", "feed_forward"])
    merge: bool = False

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"`lora.r` must be a whole number of 1 or more, got {self.r!r}.")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or self.alpha <= 0:
            raise ValueError(f"`lora.alpha` must be a number above 0 (updates scale by alpha / r), got {self.alpha!r}.")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"`lora.dropout` must be a probability in [0, 1), got {self.dropout!r}.")
        if isinstance(self.target_modules, str) or not self.target_modules:
            raise ValueError(
                f"`lora.target_modules` must be a non-empty list of names, got {self.target_modules!r}; "
                f"valid names: {valid_target_names()}."
            )
        expand_target_modules(self.target_modules)  # raises on names Echo does not have

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EchoLoraConfig:
        """The section from its JSON object; unknown keys raise a `ValueError` listing the known ones."""
        if not isinstance(values, dict):
            raise ValueError(f"`lora` must be a JSON object such as {{'r': 8, 'alpha': 16}}, got {values!r}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in `lora`. Known keys: {sorted(known)}.")
        return cls(**values)

    def peft_config(self):
        """The `peft.LoraConfig` of this section, with the groups expanded to module names."""
        LoraConfig = import_peft().LoraConfig
        # No `task_type`: peft's seq2seq wrapper forwards text-model inputs (`input_ids`, `inputs_embeds`) that a
        # speech model does not take; the plain `PeftModel` passes Echo's own inputs through, as for Whisper.
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=expand_target_modules(self.target_modules),
            bias="none",
        )


def valid_target_names() -> list[str]:
    """The names `target_modules` accepts: the groups, then every module name they hold."""
    return [*TARGET_MODULE_GROUPS, *MODULE_NAMES]


def expand_target_modules(names: list[str]) -> list[str]:
    """Module names for peft's `target_modules`: groups expanded, duplicates dropped, order kept."""
    unknown = [name for name in names if name not in TARGET_MODULE_GROUPS and name not in MODULE_NAMES]
    if unknown:
        raise ValueError(
            f"`lora.target_modules` names {unknown}, which Echo does not have as LoRA targets. "
            f"Valid names: groups {list(TARGET_MODULE_GROUPS)} or modules {list(MODULE_NAMES)}."
        )
    expanded = [module for name in names for module in TARGET_MODULE_GROUPS.get(name, (name,))]
    return list(dict.fromkeys(expanded))


def import_peft():
    try:
        import peft
    except ImportError as error:
        raise ImportError(
            'The run config has a `lora` section, which needs `peft`: pip install "echo_hf[lora]".'
        ) from error
    return peft


def add_lora(model: nn.Module, config: EchoLoraConfig) -> nn.Module:
    """`model` wrapped in a `peft.PeftModel` with the configured adapters; every base weight is frozen."""
    return import_peft().get_peft_model(model, config.peft_config())


def base_model_name(model: nn.Module) -> str | None:
    """The base model an adapter was made for, as peft records it in `adapter_config.json`."""
    return model.peft_config[model.active_adapter].base_model_name_or_path


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights count once."""
    parameters = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def save_merged(
    model: nn.Module,
    output_dir: str | Path,
    processor: EchoProcessor,
    generation_config: GenerationConfig | None = None,
) -> nn.Module:
    """Merge the adapters into the base weights (`merge_and_unload`, in place) and save the full model with
    the processor to `output_dir`; returns the merged model, a plain `EchoForConditionalGeneration`."""
    merged = model.merge_and_unload()
    if generation_config is not None:
        merged.generation_config = generation_config
    merged.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return merged


__all__ = [
    "EchoLoraConfig",
    "MERGED_DIR",
    "MODULE_NAMES",
    "TARGET_MODULE_GROUPS",
    "add_lora",
    "base_model_name",
    "count_parameters",
    "expand_target_modules",
    "save_merged",
    "valid_target_names",
]
