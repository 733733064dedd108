"""Joining overlapping chunk transcripts: shared words kept once, silent joins and joins after an empty chunk never
merged by text; by time, each word from the one chunk that owns its centre."""

from echo_hf.chunk_merge import merge_chunk_tokens, overlap_length, tokens_owned


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


def test_by_time_a_chunk_keeps_the_words_centred_in_what_it_owns():
    # " hel|lo" spans positions 0-9 (centre 4.5), " big" 9-14 (11.5), " world" 14-20 (17): the chunk owns [5, 17)
    pieces = [" hel", "lo", " big", " world"]
    spans = [(0, 5), (5, 9), (9, 14), (14, 20)]
    assert tokens_owned(pieces, spans, (5, 17)) == [2]
    assert tokens_owned(pieces, spans, (4, 18)) == [0, 1, 2, 3]  # a word's tokens stay together
    assert tokens_owned(pieces, spans, (0, 4.5)) == []  # [start, end): a centre on the end belongs to the next chunk
    assert tokens_owned(pieces, spans, (4.5, 11.5)) == [0, 1]


def test_by_time_neighbouring_chunks_give_each_word_once():
    # Two chunks heard the same words; their alignments differ a little, and the second heard the first word cut
    # at its edge as something else. Owned spans [0, 10) and [10, 30) in the recording's positions.
    first = tokens_owned([" one", " two", " thr"], [(1, 4), (5, 9), (9, 12)], (0, 10))
    second = tokens_owned([" wo", " three", " four"], [(0, 2), (9, 13), (14, 18)], (10 - 4, 30 - 4))  # starts at 4
    assert (first, second) == ([0, 1], [1, 2])


def test_by_time_whitespace_tokens_travel_with_their_word():
    pieces = [" ", "yes", " no"]
    assert tokens_owned(pieces, [(0, 1), (2, 4), (6, 8)], (0, 5)) == [0, 1]
