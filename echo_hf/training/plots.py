"""Plot a Trainer's log history: training and validation loss, and validation WER/CER, against the step."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: training runs on machines without a display

import matplotlib.pyplot as plt  # noqa: E402


def series(log_history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of every log entry holding `key`."""
    points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
    return [step for step, _ in points], [value for _, value in points]


def plot_training_curves(log_history: list[dict[str, Any]], path: str | Path) -> Path:
    """Write a PNG with the loss curves (left) and the validation error rates (right); returns its path."""
    figure, (loss_axis, error_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("loss", "training loss"), ("eval_loss", "validation loss")):
        steps, values = series(log_history, key)
        if steps:
            loss_axis.plot(steps, values, marker="." if len(steps) < 50 else None, label=label)
    loss_axis.set(xlabel="step", ylabel="loss (cross-entropy, plus CTC when on)", title="Loss")
    loss_axis.set_yscale("log")
    loss_axis.legend()
    for key, label in (("eval_wer", "validation WER"), ("eval_cer", "validation CER")):
        steps, values = series(log_history, key)
        if steps:
            error_axis.plot(steps, values, marker="o", label=label)
    error_axis.set(xlabel="step", ylabel="error rate", title="Validation error rates")
    if error_axis.lines:
        error_axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


__all__ = ["plot_training_curves"]
