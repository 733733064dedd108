"""CTC prefix scores against a brute-force sum over every CTC path, and the joint scorer as a logits processor."""

import itertools
import math

import pytest
import torch
from conftest import audio_inputs, tiny_model
from test_alignment import collapse

from echo_hf.ctc_decoding_echo import CTCPrefixScorer, extend, initial_state, no_speech_probability


def brute_force(log_probs: torch.Tensor, length: int, prefix: tuple[int, ...], whole: bool) -> float:
    """log P(the CTC output of the first `length` positions starts with `prefix`), or equals it when `whole`."""
    vocab = log_probs.shape[1]
    total = 0.0
    for path in itertools.product(range(vocab), repeat=length):
        output = tuple(collapse(path))
        if output == prefix if whole else output[: len(prefix)] == prefix:
            total += math.exp(sum(float(log_probs[t, token]) for t, token in enumerate(path)))
    return math.log(total) if total else float("-inf")


def extend_one(log_probs: torch.Tensor, length: int, state, tokens: torch.Tensor):
    """`extend` for one prefix of one clip: (scores (k,), label (k, positions), blank (k, positions))."""
    token_log_probs, blank_log_probs = log_probs[:, tokens][None], log_probs[:, 0][None]
    scores, label, blank = extend(token_log_probs, blank_log_probs, torch.tensor([length]), [state], tokens[None])
    return scores[0], label[0], blank[0]


def scores_by_recursion(log_probs: torch.Tensor, length: int, prefix: tuple[int, ...]) -> dict[int, float]:
    """Every token's prefix score after `prefix`, building the prefix's state one token at a time."""
    state = initial_state(log_probs)
    for token in prefix:
        score, label, blank = extend_one(log_probs, length, state, torch.tensor([token]))
        state = type(state)(label[0], blank[0], score[0], token)
    tokens = torch.arange(log_probs.shape[1])
    scores, _, _ = extend_one(log_probs, length, state, tokens)
    return dict(zip(tokens.tolist(), scores.tolist(), strict=True))


@pytest.mark.parametrize(
    ("positions", "length", "prefix", "seed"),
    [(4, 4, (), 0), (4, 4, (1,), 1), (5, 5, (1, 1), 2), (5, 5, (2, 1), 3), (5, 3, (1,), 4), (6, 6, (1, 2, 1), 5)],
)
def test_prefix_scores_equal_the_sum_over_every_path(positions, length, prefix, seed):
    torch.manual_seed(seed)
    # float64: the brute force adds up every continuation, whose probabilities sum to 1 only to the dtype's precision
    log_probs = torch.randn(positions, 3, dtype=torch.float64).mul(2).log_softmax(-1)  # blank 0, tokens 1 and 2
    scores = scores_by_recursion(log_probs, length, prefix)
    for token, score in scores.items():
        # the blank is also the end of text: its score is the probability of exactly `prefix`
        expected = brute_force(log_probs, length, prefix if token == 0 else (*prefix, token), whole=token == 0)
        if expected == float("-inf"):
            assert score == float("-inf")
        else:
            assert score == pytest.approx(expected, abs=1e-9), (token, prefix)


def test_a_prefix_longer_than_the_clip_allows_scores_minus_infinity():
    log_probs = torch.randn(3, 3).log_softmax(-1)
    # "1 1" needs a blank between the repeats: 3 positions; "1 1 1" would need 5
    assert scores_by_recursion(log_probs, 3, (1, 1))[1] == float("-inf")
    assert math.isfinite(scores_by_recursion(log_probs, 3, (1,))[1])


def test_no_speech_probability_is_the_mean_blank_probability_within_each_clip():
    probs = torch.tensor([[[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]], [[0.95, 0.05], [0.85, 0.15], [0.01, 0.99]]])
    result = no_speech_probability(probs.log(), torch.tensor([3, 2]))
    assert result.tolist() == pytest.approx([0.6, 0.9])  # the second clip's third position is padding


def test_the_scorer_mixes_attention_and_ctc_gains_over_its_candidates():
    torch.manual_seed(0)
    vocab, positions, weight = 4, 5, 0.4
    log_probs = torch.randn(2, positions, vocab).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([5, 4]), weight, candidates=3)
    # two clips, two beams each; the prompt is the start id 0, then one token per row
    prompt = torch.zeros(4, 1, dtype=torch.long)
    first = scorer(prompt, torch.randn(4, vocab))
    assert torch.isinf(first).sum(-1).tolist() == [1, 1, 1, 1]  # one token outside the 3 candidates per row
    rows = torch.tensor([[0, 1], [0, 2], [0, 3], [0, 1]])
    logits = torch.randn(4, vocab)
    joint = scorer(rows, logits)
    attention = logits.log_softmax(-1)
    for row, (clip, token) in enumerate([(0, 1), (0, 2), (1, 3), (1, 1)]):
        length = [5, 4][clip]
        expected = scores_by_recursion(log_probs[clip], length, (token,))
        gain_base = scores_by_recursion(log_probs[clip], length, ())[token]
        for candidate in attention[row].topk(3).indices.tolist():
            value = (1 - weight) * attention[row, candidate] + weight * (expected[candidate] - gain_base)
            assert float(joint[row, candidate]) == pytest.approx(float(value), abs=1e-5)


def test_a_hypothesis_the_ctc_head_rules_out_stays_ruled_out_never_nan():
    """Three positions cannot spell "1 1 1" (repeats need blanks between): after it, every token is -inf."""
    log_probs = torch.randn(1, 3, 3).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([3]), 0.5, candidates=3)
    scorer(torch.zeros(1, 1, dtype=torch.long), torch.randn(1, 3))
    joint = scorer(torch.tensor([[0, 1, 1, 1]]), torch.randn(1, 3))
    assert not joint.isnan().any() and torch.isneginf(joint).all()


def test_tokens_an_earlier_processor_ruled_out_stay_out_at_full_ctc_weight():
    """`ctc_weight=1` must not turn an attention score of -inf (e.g. min_new_tokens on the end of text) into NaN."""
    log_probs = torch.randn(1, 5, 3).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([5]), 1.0, candidates=3)
    logits = torch.randn(1, 3)
    logits[0, 0] = float("-inf")
    joint = scorer(torch.zeros(1, 1, dtype=torch.long), logits)
    assert not joint.isnan().any() and torch.isneginf(joint[0, 0])


def test_finished_rows_are_left_as_they_are():
    log_probs = torch.randn(1, 4, 3).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([4]), 0.5, candidates=2)
    scorer(torch.zeros(1, 1, dtype=torch.long), torch.randn(1, 3))
    logits = torch.randn(1, 3)
    assert torch.allclose(scorer(torch.tensor([[0, 0]]), logits), logits.log_softmax(-1))


@pytest.mark.parametrize(("weight", "candidates"), [(0.0, 4), (1.5, 4), (-0.1, 4), (0.3, 0)])
def test_out_of_range_settings_raise(weight, candidates):
    with pytest.raises(ValueError, match="ctc_weight|ctc_candidates"):
        CTCPrefixScorer(torch.zeros(1, 2, 3), torch.tensor([2]), weight, candidates)


# ---------------------------------------------------------------------------------------------- in generate()


@pytest.fixture
def model():
    return tiny_model(seed=3, ctc_loss_weight=0.3)


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return audio_inputs([1.0, 0.6], seed=4)  # the second clip is padded


def joint_greedy_oracle(model, inputs: dict, weight: float, steps: int) -> torch.Tensor:
    """Greedy joint decoding by hand, one clip: a full forward per step, every token scored with its CTC gain."""
    with torch.no_grad():
        encoded = model.get_encoder()(**inputs, return_dict=True)
        log_probs, lengths = model.ctc_log_probs(encoded, "ctc_weight")
    log_probs, length = log_probs[0], int(lengths[0])
    tokens, state = torch.zeros(1, 1, dtype=torch.long), initial_state(log_probs)
    vocab = torch.arange(log_probs.shape[-1])
    for _ in range(steps):
        with torch.no_grad():
            logits = model(encoder_outputs=encoded, decoder_input_ids=tokens, use_cache=False).logits[0, -1]
        ctc, label, blank = extend_one(log_probs, length, state, vocab)
        joint = (1 - weight) * logits.log_softmax(-1).double() + weight * (ctc - state.score)
        token = int(joint.argmax())
        tokens = torch.cat([tokens, torch.tensor([[token]])], 1)
        if token == 0:
            break
        state = type(state)(label[token], blank[token], ctc[token], token)
    return tokens


def test_greedy_joint_decoding_equals_the_hand_written_loop(model, batch):
    vocab = model.config.vocab_size
    for row in range(2):
        clip = {name: value[row : row + 1] for name, value in batch.items()}
        if row == 1:  # unpadded: the clip's own length
            clip = {name: value[..., : int(clip["waveform_attention_mask" if "wave" in name else "attention_mask"]
                    .sum())] for name, value in clip.items()}  # fmt: skip
        expected = joint_greedy_oracle(model, clip, 0.5, steps=8)
        tokens = model.generate(**clip, ctc_weight=0.5, ctc_candidates=vocab, max_new_tokens=8)
        assert tokens[0, : expected.shape[1]].tolist() == expected[0].tolist()
        assert not (tokens[0, expected.shape[1] :] != 0).any()


def test_joint_beam_search_in_a_padded_batch_equals_each_clip_alone(model, batch):
    options = dict(ctc_weight=0.5, num_beams=4, max_new_tokens=8)
    together = model.generate(**batch, **options)
    for row in range(2):
        frames, samples = int(batch["attention_mask"][row].sum()), int(batch["waveform_attention_mask"][row].sum())
        alone = model.generate(
            input_features=batch["input_features"][row : row + 1, :, :frames],
            waveform=batch["waveform"][row : row + 1, :samples],
            **options,
        )
        width = alone.shape[1]
        assert together[row, :width].tolist() == alone[0].tolist()
        assert not (together[row, width:] != 0).any()


def test_the_ctc_weight_changes_what_beam_search_chooses(model, batch):
    """A random decoder and a random CTC head disagree: at full weight the CTC head must decide some token."""
    plain = model.generate(**batch, num_beams=4, max_new_tokens=8)
    joint = model.generate(**batch, num_beams=4, max_new_tokens=8, ctc_weight=1.0)
    assert plain.tolist() != joint.tolist()


def test_clips_judged_non_speech_get_the_empty_transcript_and_the_rest_decode_as_alone(model, batch):
    with torch.no_grad():
        encoded = model.get_encoder()(**batch, return_dict=True)
        no_speech = no_speech_probability(*model.ctc_log_probs(encoded, "no_speech_threshold"))
    speech_row = int(no_speech.argmin())
    threshold = float(no_speech.mean())  # between the two clips' values
    assert no_speech.min() <= threshold < no_speech.max()
    tokens = model.generate(**batch, no_speech_threshold=threshold, max_new_tokens=6)
    everything = model.generate(**batch, max_new_tokens=6)
    assert tokens[1 - speech_row].tolist() == [0] * tokens.shape[1]
    width = everything.shape[1]
    assert tokens[speech_row, :width].tolist() == everything[speech_row].tolist()
    assert model.generate(**batch, no_speech_threshold=0.0).tolist() == [[0, 0], [0, 0]]
    assert model.generate(**batch, no_speech_threshold=1.0, max_new_tokens=6).tolist() == everything.tolist()


def test_the_options_read_from_the_generation_config_too(model, batch):
    model.generation_config.no_speech_threshold = 0.0
    assert model.generate(**batch).tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ctc_weight": 1.5}, "ctc_weight"),
        ({"ctc_weight": 0.3, "ctc_candidates": 0}, "ctc_candidates"),
        ({"no_speech_threshold": 1.2}, "no_speech_threshold"),
        ({"no_speech_threshold": -0.1}, "no_speech_threshold"),
    ],
)
def test_out_of_range_generation_options_raise(model, batch, options, message):
    with pytest.raises(ValueError, match=message):
        model.generate(**batch, max_new_tokens=4, **options)


@pytest.mark.parametrize("option", ["ctc_weight", "no_speech_threshold"])
def test_a_model_without_a_ctc_head_refuses_the_ctc_options(batch, option):
    with pytest.raises(ValueError, match=f"`{option}` reads the encoder's CTC head"):
        tiny_model().generate(**batch, max_new_tokens=4, **{option: 0.3})
