"""Speech from held-out voices and sentences the bundled corpus never uses: data to fine-tune a trained model on.

The corpus's training splits speak with espeak-ng's accents x `ESPEAK_VARIANTS`, four flite voices and one Piper
voice; `HELD_OUT_VARIANTS` (`speech.HELD_OUT_ESPEAK_VARIANTS`) are the espeak-ng variants they never use. Here they
speak with one accent. The corpus's own `held_out_voices` split uses the same variants (with every accent), so a
model fine-tuned on this data has heard the voices of that split: compare it on this data's own held-out part.
The sentences are the ones the corpus's shuffle puts after all its slices: the same sources, shuffle and vocabulary
limit as a corpus built with `corpus_params`, so none was heard in its training or is in its test splits.
"""

from __future__ import annotations

import inspect
import io
from pathlib import Path
from typing import Any

import datasets
import soundfile as sf

from .build import SPLITS, build_corpus
from .speech import HELD_OUT_ESPEAK_VARIANTS, SAMPLE_RATE, synthesize
from .text import collect_sentences, make_splits

HELD_OUT_VARIANTS = HELD_OUT_ESPEAK_VARIANTS


def default_corpus_params() -> dict[str, Any]:
    """The parameters `build_corpus` uses by default (what `make demo` builds)."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(build_corpus).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def held_out_sentences(sizes: dict[str, int], corpus_params: dict[str, Any]) -> dict[str, list]:
    """Sentences for each of `sizes`' splits, none of them in the corpus built with `corpus_params`."""
    sentences, _ = collect_sentences(
        corpus_params["min_words"], corpus_params["max_words"], corpus_params["max_vocab"] or None
    )
    corpus_sizes = {split: corpus_params[split] for split in SPLITS}
    overlap = set(sizes) & set(corpus_sizes)
    if overlap:
        raise ValueError(f"Held-out split names {sorted(overlap)} clash with the corpus's {list(SPLITS)}.")
    # The corpus's slices come first in the same shuffle; ours are the next ones, so they share no sentence.
    splits = make_splits(sentences, {**corpus_sizes, **sizes}, corpus_params["seed"])
    return {name: splits[name] for name in sizes}


def build_held_out_voices(
    out: str | Path,
    sizes: dict[str, int],
    accent: str = "en-us",
    variants: tuple[str, ...] = HELD_OUT_VARIANTS,
    seed: int = 0,
    corpus_params: dict[str, Any] | None = None,
) -> datasets.DatasetDict:
    """Synthesise `sizes` (split name -> clips) with `accent` + the held-out variants in turn; saved to `out`."""
    params = {**default_corpus_params(), **(corpus_params or {})}
    data = datasets.DatasetDict()
    for split_index, (split, sentences) in enumerate(held_out_sentences(sizes, params).items()):
        rows: dict[str, list] = {"audio": [], "text": [], "voice": []}
        for index, sentence in enumerate(sentences):
            voice = f"espeak:{accent}+{variants[index % len(variants)]}"
            utterance = synthesize(sentence.spoken, seed=[seed, split_index, index], voice=voice)
            buffer = io.BytesIO()
            sf.write(buffer, utterance.audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            rows["audio"].append({"bytes": buffer.getvalue(), "path": f"{split}-{index:05d}.flac"})
            rows["text"].append(sentence.text)
            rows["voice"].append(voice)
        data[split] = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE))
    data.save_to_disk(str(out))
    return data


__all__ = ["HELD_OUT_VARIANTS", "build_held_out_voices", "default_corpus_params", "held_out_sentences"]
