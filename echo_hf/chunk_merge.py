"""Joining the transcripts of overlapping chunks of a long recording.

Consecutive chunks share `stride_left + stride_right` samples of audio, so words spoken there appear at the end
of one chunk's tokens and at the start of the next one's. Each chunk contributes its tokens after that overlap.
When the shared audio is digital silence there is nothing to remove: a match there would be a coincidence (two
clips that happen to start and end alike), so those chunks are simply joined. A chunk is compared with the chunk
before it only, so after a chunk transcribed as "" (silence, or no speech heard) nothing is removed either.
"""


def overlap_length(previous: list[int], new: list[int]) -> int:
    """How many leading tokens of `new` repeat the end of `previous`.

    Scores each candidate overlap i as matches / i + i / 10000 (transformers' rule: the best agreement, and the
    longest among equals). An exact overlap counts from one token; an inexact one needs two matching tokens.
    """
    best, best_score = 0, 0.0
    for i in range(1, min(len(previous), len(new)) + 1):
        matches = sum(a == b for a, b in zip(previous[-i:], new[:i], strict=True))
        score = matches / i + i / 10000
        if (matches == i or matches > 1) and score > best_score:
            best, best_score = i, score
    return best


def merge_chunk_tokens(sequences: list[list[int]], overlap_is_silent: list[bool]) -> list[list[int]]:
    """The tokens each chunk adds to the transcript, given every chunk's tokens (special tokens removed).

    `overlap_is_silent[k]` says whether the audio chunk k shares with chunk k - 1 is all exact zeros.
    """
    pieces = []
    for index, tokens in enumerate(sequences):
        skip = 0 if index == 0 or overlap_is_silent[index] else overlap_length(sequences[index - 1], tokens)
        pieces.append(tokens[skip:])
    return pieces


__all__ = ["merge_chunk_tokens", "overlap_length"]
