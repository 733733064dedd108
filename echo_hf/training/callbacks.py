"""Trainer callbacks for Echo runs."""

import time

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


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
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        return control


__all__ = ["TimeLimitCallback"]
