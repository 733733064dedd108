"""Plot a Trainer's log history against the step: training and validation loss, validation WER/CER, and Echo's
learned mixing weights (the view blend and the per-layer cross-attention gates) when they were logged."""

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
    """Write a PNG with the loss curves, the validation error rates and, when logged, the learned weights (view
    blend, cross-attention gates); returns its path."""
    weight_keys = sorted(
        {key for entry in log_history for key in entry if key == "view_blend" or key.startswith("cross_gate_")}
    )
    columns = 3 if weight_keys else 2
    figure, axes = plt.subplots(1, columns, figsize=(5.5 * columns, 4))
    loss_axis, error_axis = axes[:2]
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
    if weight_keys:
        weight_axis = axes[2]
        for key in weight_keys:
            steps, values = series(log_history, key)
            label = "view blend: spectrogram share" if key == "view_blend" else key.replace("_", " ")
            weight_axis.plot(steps, values, label=label, linewidth=2.5 if key == "view_blend" else 1.2)
        weight_axis.set(xlabel="step", ylabel="sigmoid(weight)", title="Learned mixing weights", ylim=(0, 1))
        weight_axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


__all__ = ["plot_training_curves"]
