"""Joining the transcripts of overlapping chunks of a long recording.

Consecutive chunks share `stride_left + stride_right` samples of audio, so words spoken there appear at the end
of one chunk's tokens and at the start of the next one's. Two ways to keep each word once:

- by time (`tokens_owned`, for a model with an alignment, as a CTC head gives): the strides tile the recording, each
  chunk owning its audio less its strides, and a chunk keeps the words centred in the audio it owns. A word cut at a
  chunk's edge (and whatever the decoder made of it) lies in a stride, and is taken from the chunk it is whole in.
- by text (`merge_chunk_tokens`): each chunk contributes its tokens after those that repeat the end of the chunk
  before. When the shared audio is digital silence there is nothing to remove: a match there would be a coincidence
  (two clips that happen to start and end alike), so those chunks are simply joined. A chunk is compared with the
  chunk before it only, so after a chunk transcribed as "" (silence, or no speech heard) nothing is removed either.
"""

from .alignment_echo import word_token_groups


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


def tokens_owned(pieces: list[str], spans: list[tuple[int, int]], owned: tuple[float, float]) -> list[int]:
    """The indices of the tokens whose word is centred in `owned`, the encoder positions [start, end) a chunk owns,
    given each token's decoded text and the positions [start, end) it is aligned to."""
    kept = []
    for group in word_token_groups(pieces):
        spoken = [index for index in group if pieces[index].strip()]
        centre = (spans[spoken[0]][0] + spans[spoken[-1]][1]) / 2
        if owned[0] <= centre < owned[1]:
            kept += group
    return kept


__all__ = ["merge_chunk_tokens", "overlap_length", "tokens_owned"]
