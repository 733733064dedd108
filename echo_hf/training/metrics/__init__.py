"""Evaluation metrics shipped with echo_hf: the local `evaluate` module for WER/CER and the Trainer hook."""

from .compute_metrics import ECHO_WER_PATH, build_compute_metrics, load_echo_wer

__all__ = ["ECHO_WER_PATH", "build_compute_metrics", "load_echo_wer"]
