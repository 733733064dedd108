"""English sentences for the synthetic speech corpus, from text that Debian packages install offline.

Sources (each optional; a missing one contributes nothing and is reported with a count of 0):

- ``fortunes``: the fortune-cookie collections (``fortunes``, ``fortunes-min``) in /usr/share/games/fortunes.
- ``wordnet``: the quoted example sentences in WordNet's glosses (``wordnet-base``).
- ``kjv``: the King James Bible, printed by the ``bible`` program (``bible-kjv`` + ``bible-kjv-text``).
- ``gcide``: the literary quotations in the GNU Collaborative International Dictionary (``dict-gcide``).

Each text is split into sentences, normalised with `normalize_text`, kept if its word count is in range
and, optionally, if all its words are among the `max_vocab` most frequent ones, then deduplicated.
`make_splits` shuffles with a seed and cuts disjoint train / validation / test lists.
"""

from __future__ import annotations

import collections
import gzip
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..training.text_normalization import normalize_text

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
GCIDE_PATH = Path("/usr/share/dictd/gcide.dict.dz")
# Collections that are pictures or program output rather than prose.
FORTUNE_SKIP = {"ascii-art", "perl", "translate-me"}
ABBREVIATION_END = re.compile(r"\b(?:mr|mrs|ms|dr|st|prof|vs|etc|jr|sr|no|e\.g|i\.e|[a-z])\.$", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")
# Text that is code, tables or markup rather than something a person would read aloud.
NOT_PROSE = re.compile(r"[{}<>|\\_=~^*\[\]]|https?:|www\.|\.\w+\(|\s{3,}")
# Raw text this plain can be given to the synthesiser as written, so its punctuation shapes the prosody.
PLAIN_SPEECH = re.compile(r"[A-Za-z][A-Za-z' ,;:!?\"-]*[.!?]?")
# Capitals without a vowel (TV, BBC) are spelled out by synthesisers but normalise to one word.
SPELLED_ACRONYM = re.compile(r"\b[B-DF-HJ-NP-TV-Z]{2,}\b")


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence: `text` is the normalised transcript, `spoken` what the synthesiser reads."""

    text: str
    spoken: str
    source: str


def iter_fortunes(root: Path = FORTUNES_DIR) -> Iterator[str]:
    """Yield each fortune's text without its ``-- Author`` attribution."""
    if not root.is_dir():
        return
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix or path.name in FORTUNE_SKIP:
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        for entry in re.split(r"^%\s*$", raw, flags=re.MULTILINE):
            entry = re.split(r"^\s*--\s*\S", entry, maxsplit=1, flags=re.MULTILINE)[0]
            yield " ".join(entry.split())


def iter_wordnet(root: Path = WORDNET_DIR) -> Iterator[str]:
    """Yield WordNet's example sentences: the double-quoted parts of each synset's gloss."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = root / f"data.{pos}"
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("  "):  # licence header
                    continue
                _, _, gloss = line.partition("|")
                yield from re.findall(r'"([^"]+)"', gloss)


def iter_kjv() -> Iterator[str]:
    """Yield the verses of the King James Bible, printed one per line by the ``bible`` program."""
    if shutil.which("bible") is None:
        return
    result = subprocess.run(
        ["bible", "-l", "5000", "gen1:1-rev22:21"], capture_output=True, text=True, check=False, timeout=120
    )
    for line in result.stdout.splitlines():
        match = re.match(r"\s+\d+ (.+)", line)
        if match:
            yield match.group(1)


def iter_gcide(path: Path = GCIDE_PATH) -> Iterator[str]:
    """Yield GCIDE's quotations: deeply indented paragraphs, without the trailing ``--Author``."""
    if not path.is_file():
        return
    # dictzip files are gzip files with an index in the header, so gzip reads them whole.
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.split("\n")
        if not all(line.startswith(" " * 8) for line in lines):
            continue
        quote = " ".join(" ".join(lines).split())
        yield re.sub(r"\s*--\s*[A-Z].*$", "", quote)


SOURCES: dict[str, Callable[[], Iterable[str]]] = {
    "fortunes": iter_fortunes,
    "wordnet": iter_wordnet,
    "kjv": iter_kjv,
    "gcide": iter_gcide,
}


def split_sentences(text: str) -> list[str]:
    """Split prose into sentence-like pieces at ``. ! ? ; :``, not after abbreviations or initials."""
    pieces: list[str] = []
    for piece in SENTENCE_END.split(text.strip()):
        if pieces and ABBREVIATION_END.search(pieces[-1]):
            pieces[-1] += " " + piece
        elif piece:
            pieces.append(piece)
    return pieces


def to_sentence(raw: str, source: str) -> Sentence | None:
    """Normalise one raw sentence; None if it does not look like prose a person would read aloud."""
    raw = raw.strip(" \"'()")
    if not raw or NOT_PROSE.search(raw) or SPELLED_ACRONYM.search(raw):
        return None
    letters = sum(c.isalpha() for c in raw)
    if letters < 0.7 * len(raw.replace(" ", "")):
        return None
    text = normalize_text(raw)
    if not text:
        return None
    # Digits, symbols and abbreviations are read from the normalised text, so audio matches the transcript.
    spoken = raw.rstrip(",;:") if PLAIN_SPEECH.fullmatch(raw) else text
    return Sentence(text=text, spoken=spoken, source=source)


def collect_sentences(
    min_words: int = 3,
    max_words: int = 12,
    max_vocab: int | None = None,
    sources: Iterable[str] | None = None,
) -> tuple[list[Sentence], dict[str, int]]:
    """Collect unique normalised sentences from the installed sources.

    Args:
        min_words / max_words: inclusive range of words per sentence (after normalisation).
        max_vocab: if given, keep only sentences whose words are all among the `max_vocab` most frequent
            words of the collected sentences (so a tiny model can learn the vocabulary).
        sources: names from `SOURCES` to read; all by default.

    Returns:
        The sentences in a deterministic order, and the number kept from each source.
    """
    names = list(SOURCES) if sources is None else list(sources)
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"sources={unknown} are unknown; choose from {sorted(SOURCES)}")
    seen: set[str] = set()
    sentences: list[Sentence] = []
    for name in names:
        for block in SOURCES[name]():
            for raw in split_sentences(block):
                sentence = to_sentence(raw, name)
                if sentence is None or sentence.text in seen:
                    continue
                if min_words <= len(sentence.text.split()) <= max_words:
                    seen.add(sentence.text)
                    sentences.append(sentence)
    if max_vocab is not None:
        sentences = restrict_vocabulary(sentences, max_vocab)
    counts = {name: 0 for name in names}
    for sentence in sentences:
        counts[sentence.source] += 1
    return sentences, counts


def restrict_vocabulary(sentences: list[Sentence], max_vocab: int) -> list[Sentence]:
    """Keep sentences whose words are all among the `max_vocab` most frequent words of `sentences`."""
    if max_vocab < 1:
        raise ValueError(f"max_vocab={max_vocab} must be a positive number of words, or None for no limit")
    frequency = collections.Counter(word for s in sentences for word in s.text.split())
    # Ties are broken alphabetically so the vocabulary does not depend on source order.
    ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
    vocabulary = {word for word, _ in ranked[:max_vocab]}
    return [s for s in sentences if all(word in vocabulary for word in s.text.split())]


def make_splits(sentences: list[Sentence], sizes: dict[str, int], seed: int) -> dict[str, list[Sentence]]:
    """Shuffle with `seed` and cut consecutive, disjoint slices of the requested sizes (in `sizes` order)."""
    needed = sum(sizes.values())
    if needed > len(sentences):
        raise ValueError(
            f"asked for {needed} sentences ({sizes}) but only {len(sentences)} are available; "
            "ask for fewer, widen the word range, raise max_vocab or install more text sources"
        )
    order = sorted(sentences, key=lambda s: (s.text, s.source))
    random.Random(seed).shuffle(order)
    splits, start = {}, 0
    for name, size in sizes.items():
        splits[name] = order[start : start + size]
        start += size
    return splits
