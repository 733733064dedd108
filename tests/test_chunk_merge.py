"""Joining overlapping chunk transcripts: shared words kept once, silent joins and joins after an empty chunk never
merged."""

from echo_hf.chunk_merge import merge_chunk_tokens, overlap_length


def test_words_in_the_shared_audio_are_kept_once():
    # chunk 1 heard "1 2 3 4", chunk 2 heard "3 4 5 6": "3 4" was in the audio both chunks share
    assert merge_chunk_tokens([[1, 2, 3, 4], [3, 4, 5, 6], [6, 7]], [False, False, False]) == [
        [1, 2, 3, 4],
        [5, 6],
        [7],
    ]


def test_single_shared_token_and_inexact_overlaps():
    assert overlap_length([1, 2, 9], [9, 5]) == 1
    assert overlap_length([1, 2, 3, 4, 5], [2, 3, 7, 5, 8]) == 4  # one disagreeing token inside the overlap
    assert overlap_length([1, 2, 3], [4, 5]) == 0


def test_a_silent_join_is_never_merged():
    # the same clip twice in a row: with silence between the chunks both copies are real
    assert merge_chunk_tokens([[7, 8], [7, 8]], [False, True]) == [[7, 8], [7, 8]]
    assert merge_chunk_tokens([[7, 8], [7, 8]], [False, False]) == [[7, 8], []]


def test_a_chunk_after_an_empty_one_keeps_all_its_words():
    # chunk 2 was transcribed as "" (no speech heard): chunk 3 shares no audio with chunk 1, whose last word it repeats
    assert merge_chunk_tokens([[5, 6, 9], [], [9, 4]], [False, False, False]) == [[5, 6, 9], [], [9, 4]]
