"""Trainer callbacks for Echo runs."""

import time

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.utils import logging

logger = logging.get_logger(__name__)


class TimeLimitCallback(TrainerCallback):
    """Stops training, saving a checkpoint, once `minutes` of training have passed (a fixed compute budget).

    Under several processes the main process decides and broadcasts, so every rank stops at the same step.

    Args:
        minutes (`float`): training time allowed, counted from the start of `train()`.
    """

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.start = None
        self.stopped = False  # read by the caller to report a time-limited run

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        stop = torch.tensor(float(time.monotonic() - self.start > self.seconds), device=args.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(stop, src=0)
        if stop.item():
            logger.warning(
                f"max_train_minutes={self.seconds / 60:g} reached: training stops at step {state.global_step} of "
                f"{state.max_steps}, before its learning-rate schedule ends. The model is saved as it is; "
                "all_results.json records stopped_by_time_limit=true. Raise the limit or lower max_steps."
            )
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        return control


class LearnedWeightsCallback(TrainerCallback):
    """Adds Echo's learned mixing weights to each training log entry: `view_blend` (sigmoid(b), the spectrogram's
    share of the encoder input) and `cross_gate_layer_<i>` (sigmoid(g), the share of the stream each decoder layer
    keeps over cross-attention). `training_curves.png` plots them; trainer_state.json keeps them."""

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        model = kwargs.get("model")
        if model is None or not state.log_history or "loss" not in state.log_history[-1]:
            return control
        weights = {}
        for name, parameter in model.named_parameters():
            if name.endswith("encoder.blend_logit"):
                weights["view_blend"] = torch.sigmoid(parameter.detach().float()).item()
            elif name.endswith(".cross_gate"):
                layer = name.split(".layers.")[1].split(".")[0]
                weights[f"cross_gate_layer_{layer}"] = torch.sigmoid(parameter.detach().float()).item()
        # The Trainer has already appended this entry to the history; on_log's `logs` is a copy.
        state.log_history[-1].update(weights)
        return control


__all__ = ["LearnedWeightsCallback", "TimeLimitCallback"]
