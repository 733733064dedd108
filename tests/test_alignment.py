"""CTC forced alignment and DTW against brute force on tiny cases, attention spans, and words with times from token
spans."""

import itertools

import pytest
import torch

from echo_hf.alignment_echo import attention_token_spans, ctc_forced_align, dtw_path, path_score, word_spans


def collapse(path: tuple[int, ...], blank: int = 0) -> list[int]:
    merged = [label for index, label in enumerate(path) if index == 0 or label != path[index - 1]]
    return [label for label in merged if label != blank]


def brute_force_best(log_probs: torch.Tensor, tokens: list[int]) -> float | None:
    """The best score over every path of labels that collapses to `tokens` (V ** T paths)."""
    positions, vocab = log_probs.shape
    scores = [
        float(log_probs[torch.arange(positions), torch.tensor(path)].sum())
        for path in itertools.product(range(vocab), repeat=positions)
        if collapse(path) == tokens
    ]
    return max(scores) if scores else None


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_alignment_is_the_best_path_that_spells_the_tokens(seed):
    generator = torch.Generator().manual_seed(seed)
    positions = 3 + seed % 4
    log_probs = torch.randn(positions, 3, generator=generator).log_softmax(-1)
    tokens = [[1], [1, 2], [2, 2], [1, 1, 2], [2, 1]][seed % 5]  # repeats need a blank between them
    spans = ctc_forced_align(log_probs, tokens)
    best = brute_force_best(log_probs, tokens)
    if best is None:
        assert spans is None
        return
    assert all(0 <= start < end <= positions for start, end in spans)
    assert all(previous[1] <= following[0] for previous, following in itertools.pairwise(spans))
    assert path_score(log_probs, spans, tokens) == pytest.approx(best, abs=1e-5)


def test_alignment_that_cannot_fit_is_none_and_empty_tokens_have_no_spans():
    log_probs = torch.zeros(2, 3).log_softmax(-1)
    assert ctc_forced_align(log_probs, [1, 1]) is None  # a repeat needs a blank between: 3 positions
    assert ctc_forced_align(log_probs, []) == []


def test_words_start_at_whitespace_and_take_their_tokens_times():
    pieces = ["h", "i", " ", "t", "h", "e", "re", " you"]
    spans = [(1, 2), (2, 4), (5, 6), (7, 8), (8, 9), (9, 10), (10, 12), (14, 17)]
    assert word_spans(pieces, spans, 0.04) == [
        {"text": "hi", "timestamp": (0.04, 0.16)},
        {"text": "there", "timestamp": (0.28, 0.48)},
        {"text": "you", "timestamp": (0.56, 0.68)},
    ]
    assert word_spans(pieces, None, 0.04)[1] == {"text": "there", "timestamp": (None, None)}


def monotonic_paths(rows: int, columns: int):
    """Every path from a cell of the first row to a cell of the last in steps of one row, one column or both."""

    def from_cell(i: int, j: int):
        if i == rows - 1:
            yield [(i, j)]
        for step in ((i + 1, j + 1), (i + 1, j), (i, j + 1)):
            if step[0] < rows and step[1] < columns:
                yield from ([(i, j), *rest] for rest in from_cell(*step))

    for start in range(columns):
        yield from from_cell(0, start)


@pytest.mark.parametrize(
    ("rows", "columns", "seed"), [(1, 1, 0), (1, 4, 1), (3, 3, 2), (3, 5, 3), (4, 6, 4), (5, 3, 5)]
)
def test_dtw_path_is_the_cheapest_monotonic_path(rows, columns, seed):
    cost = torch.randn(rows, columns, generator=torch.Generator().manual_seed(seed))
    path = dtw_path(cost)
    paths = list(monotonic_paths(rows, columns))
    assert path in paths
    best = min(sum(float(cost[i, j]) for i, j in candidate) for candidate in paths)
    assert sum(float(cost[i, j]) for i, j in path) == pytest.approx(best)


def test_attention_spans_follow_a_diagonal_through_noise():
    """Three tokens attending (with noise, and one spiky position) to positions 0-3, 4-7 and 8-11."""
    generator = torch.Generator().manual_seed(0)
    weights = torch.rand(2, 3, 12, generator=generator) * 0.1
    for token in range(3):
        weights[:, token, 4 * token : 4 * token + 4] += 1.0
    weights[0, 0, 10] = 5.0  # a single-position spike the median filter removes
    spans = attention_token_spans(weights.softmax(-1))
    # the path may pass a boundary position to both tokens: each edge within one position
    for (start, end), (true_start, true_end) in zip(spans, [(0, 4), (4, 8), (8, 12)], strict=True):
        assert abs(start - true_start) <= 1 and abs(end - true_end) <= 1
    assert [start for start, _ in spans] == sorted(start for start, _ in spans) and spans[-1][1] == 12
    assert attention_token_spans(torch.zeros(1, 0, 5)) == []
