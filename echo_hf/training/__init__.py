"""Training Echo with `Seq2SeqTrainer`: the run config, datasets and collator, WER/CER, callbacks and plots.

Nothing here travels with a saved model; `python -m echo_hf.training.train RUN.json` (or `echo-train`) runs it.
"""
