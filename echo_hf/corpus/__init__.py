"""The bundled synthetic English corpus: sentences from offline texts, spoken by offline synthesisers.

`python -m echo_hf.corpus.build --out data/echo-corpus` builds it; nothing here travels with a saved model.
"""
