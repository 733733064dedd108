"""Echo for Hugging Face Transformers: a two-view (log-mel + waveform) encoder-decoder speech recogniser.

Importing this package registers the model type ``"echo"`` with the Auto classes.
"""
