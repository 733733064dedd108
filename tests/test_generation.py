"""generate() and the cache, against oracles that use neither: greedy and beam search, dynamic and static caches,
compiled decoding, generate's own input preparation, and the conventions of transformers' outputs and arguments."""

import pytest
import torch
from conftest import audio_inputs, tiny_model
from transformers import CompileConfig, GenerationConfig
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from echo_hf.modeling_echo import CACHE_FIELD, EchoEncoderOutput

PROMPT = torch.tensor([[0, 5, 0, 9], [0, 0, 7, 0]])  # id 0 inside and at the end of the prefix


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    inputs = audio_inputs([1.0, 0.6], seed=2)  # the second clip is padded
    inputs["input_features"][0, :, 20:40] = 0  # and the first has digital silence
    return inputs


def greedy_without_cache(model, inputs: dict, prefix: torch.Tensor, steps: int) -> torch.Tensor:
    """The oracle: a full forward over everything so far at every step, no cache, argmax, 0 after the end."""
    tokens, done = prefix, torch.zeros(len(prefix), dtype=torch.bool)
    for _ in range(steps):
        logits = model(**inputs, decoder_input_ids=tokens, use_cache=False).logits[:, -1]
        next_token = logits.argmax(-1).masked_fill(done, 0)
        tokens, done = torch.cat([tokens, next_token[:, None]], 1), done | (next_token == 0)
        if done.all():
            break
    return tokens


def test_greedy_generate_equals_a_loop_of_full_forwards_without_cache(model, batch):
    # Several seeds, so that some rows end (emit id 0) early and the others go on.
    for seed in range(3):
        model = tiny_model(seed=seed)
        expected = greedy_without_cache(model, batch, PROMPT, steps=10)
        got = model.generate(**batch, decoder_input_ids=PROMPT, max_new_tokens=10)
        assert torch.equal(got, expected)


def test_beam_search_with_the_cache_equals_beam_search_without(model, batch):
    for num_beams in (2, 4):
        cached = model.generate(**batch, decoder_input_ids=PROMPT, num_beams=num_beams, max_new_tokens=10)
        plain = model.generate(
            **batch, decoder_input_ids=PROMPT, num_beams=num_beams, max_new_tokens=10, use_cache=False
        )
        assert torch.equal(cached, plain)


def test_static_cache_and_compiled_static_cache_give_the_dynamic_caches_tokens(model, batch):
    kwargs = dict(max_new_tokens=10, min_new_tokens=10)  # all ten steps on every row
    dynamic = model.generate(**batch, **kwargs)
    static = model.generate(**batch, cache_implementation="static", **kwargs)
    assert torch.equal(static, dynamic)
    # The decoding steps as one graph (fullgraph: a graph break fails). aot_eager traces exactly what inductor
    # compiles, without its C++ build (minutes on two cores; README).
    compile_config = CompileConfig(fullgraph=True, backend="aot_eager", mode="default")
    compile_config._compile_all_devices = True  # transformers compiles on GPUs only unless told
    compiled = model.generate(**batch, cache_implementation="static", compile_config=compile_config, **kwargs)
    assert hasattr(model, "_compiled_call")
    assert torch.equal(compiled, dynamic)


def test_ready_encoder_outputs_decode_as_the_audio_does(model, batch):
    encoder_outputs = model.get_encoder()(**batch)
    expected = model.generate(**batch, max_new_tokens=6)
    mask = batch["attention_mask"]
    assert torch.equal(model.generate(encoder_outputs=encoder_outputs, max_new_tokens=6), expected)
    assert torch.equal(model.generate(encoder_outputs=encoder_outputs, attention_mask=mask, max_new_tokens=6), expected)
    with pytest.raises(ValueError, match="not both"):
        model.generate(encoder_outputs=encoder_outputs, waveform=batch["waveform"], max_new_tokens=6)


def test_cached_steps_through_generates_own_input_preparation_equal_the_full_forward(model, batch):
    ids = torch.cat([PROMPT, torch.tensor([[12, 3], [0, 4]])], 1)
    full = model(**batch, decoder_input_ids=ids, use_cache=False).logits
    encoder_outputs = model.get_encoder()(**batch)
    cache, steps, start = None, [], PROMPT.shape[1]
    for end in [start, *range(start + 1, ids.shape[1] + 1)]:  # the prompt at once, then one token a step
        model_inputs = model.prepare_inputs_for_generation(
            ids[:, :end],
            next_sequence_length=None if cache is None else 1,
            encoder_outputs=encoder_outputs,
            use_cache=True,
            is_first_iteration=cache is None,
            **{CACHE_FIELD: cache if cache is not None else EncoderDecoderCache(DynamicCache(), DynamicCache())},
        )
        out = model(**model_inputs)
        cache = out[CACHE_FIELD]
        steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_a_cropped_cache_decodes_as_if_the_removed_tokens_never_came(model, batch):
    ids = torch.tensor([[0, 5, 9, 12, 7], [0, 8, 0, 3, 3]])
    other = torch.tensor([[0, 5, 9, 30, 0], [0, 8, 0, 31, 2]])  # the same first three tokens
    encoder_outputs = model.get_encoder()(**batch)
    cache = model(encoder_outputs=encoder_outputs, decoder_input_ids=ids, use_cache=True)[CACHE_FIELD]
    cache.crop(-2)  # back to the first three tokens
    resumed = model(encoder_outputs=encoder_outputs, decoder_input_ids=other[:, 3:], cache=cache).logits
    full = model(encoder_outputs=encoder_outputs, decoder_input_ids=other, use_cache=False).logits
    torch.testing.assert_close(resumed, full[:, 3:], rtol=1e-4, atol=1e-5)


def test_cache_is_taken_under_both_names_and_returned_under_the_installed_ones(model, batch):
    encoder_outputs = model.get_encoder()(**batch)
    first = model(encoder_outputs=encoder_outputs, decoder_input_ids=PROMPT)
    assert CACHE_FIELD in first and isinstance(first[CACHE_FIELD], EncoderDecoderCache)
    step = torch.tensor([[3], [4]])
    logits = []
    for name in ("cache", "past_key_values"):
        cache = model(encoder_outputs=encoder_outputs, decoder_input_ids=PROMPT)[CACHE_FIELD]
        logits.append(model(encoder_outputs=encoder_outputs, decoder_input_ids=step, **{name: cache}).logits)
    torch.testing.assert_close(logits[0], logits[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="once"):
        model(encoder_outputs=encoder_outputs, decoder_input_ids=step, cache=cache, past_key_values=cache)


def test_every_public_forward_and_generate_name_an_unknown_keyword(model, batch):
    encoder_outputs = model.get_encoder()(**batch)
    calls = [
        (model, dict(**batch, decoder_input_ids=PROMPT)),
        (model.model, dict(**batch, decoder_input_ids=PROMPT)),
        (model.get_encoder(), dict(batch)),
        (model.model.decoder, dict(input_ids=PROMPT, encoder_hidden_states=encoder_outputs.last_hidden_state)),
    ]
    for module, inputs in calls:
        module(**inputs)  # runs as given
        with pytest.raises(TypeError, match="decoder_atention_mask"):
            module(**inputs, decoder_atention_mask=None)
    with pytest.raises((TypeError, ValueError), match="decoder_atention_mask"):
        model.generate(**batch, max_new_tokens=2, decoder_atention_mask=None)


def test_return_dict_false_in_the_call_and_in_the_config(batch):
    model = tiny_model()
    expected = model(**batch, decoder_input_ids=PROMPT).logits
    as_tuple = model(**batch, decoder_input_ids=PROMPT, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], expected)
    model.config.return_dict = False  # inner calls must not read it
    as_tuple = model(**batch, decoder_input_ids=PROMPT)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], expected)
    labels = torch.tensor([[5, 9, 0], [7, 0, -100]])
    loss, logits = model(**batch, labels=labels)[:2]
    assert loss.ndim == 0 and logits.shape == (2, 3, 64)
    assert torch.equal(model.generate(**batch, max_new_tokens=4), tiny_model().generate(**batch, max_new_tokens=4))


def test_encoder_outputs_as_a_tuple_keep_the_zero_mask(model, batch):
    encoder_outputs = model.get_encoder()(**batch)
    assert encoder_outputs.zero_mask.any()  # the silence and the padding
    expected = model(encoder_outputs=encoder_outputs, decoder_input_ids=PROMPT).logits
    for outputs in (encoder_outputs.to_tuple(), model.get_encoder()(**batch, output_hidden_states=True).to_tuple()):
        assert torch.equal(EchoEncoderOutput(*outputs).zero_mask, encoder_outputs.zero_mask)
        torch.testing.assert_close(model(encoder_outputs=outputs, decoder_input_ids=PROMPT).logits, expected)
    # without the mask the padded positions would count fully: the mask is what made the difference
    unmasked = model(encoder_outputs=(encoder_outputs.last_hidden_state,), decoder_input_ids=PROMPT).logits
    assert (unmasked - expected).abs().max() > 1e-4


def test_config_output_flags_are_honoured_and_sdpa_switches_to_eager_for_weights(batch):
    # transformers refuses config.output_attentions under SDPA; in a call, Echo computes that call's weights eagerly.
    model = tiny_model(attn_implementation="eager")
    model.config.output_attentions = model.config.output_hidden_states = True
    reference = model(**batch, decoder_input_ids=PROMPT)
    assert len(reference.encoder_hidden_states) == 3 and len(reference.decoder_hidden_states) == 3
    sdpa = tiny_model(attn_implementation="sdpa")
    sdpa.config.output_hidden_states = True
    out = sdpa(**batch, decoder_input_ids=PROMPT, output_attentions=True)
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
        assert len(out[name]) == 2 and all(w is not None for w in out[name])
        for got, expected in zip(out[name], reference[name], strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert len(out.encoder_hidden_states) == 3 and len(out.decoder_hidden_states) == 3
    # the future and the padded audio get (almost) no weight
    assert out.decoder_attentions[0][..., 0, 1:].abs().max() == 0
    assert out.cross_attentions[0][1, ..., 31:].max() < 1e-5  # clip 2 is 0.6 s: 30 positions, then padding
    decoder_out = sdpa.model.decoder(
        input_ids=PROMPT, encoder_hidden_states=out.encoder_last_hidden_state, output_attentions=True
    )
    assert isinstance(decoder_out, BaseModelOutputWithPastAndCrossAttentions)
    assert decoder_out.attentions is not None and decoder_out.cross_attentions is not None


def test_generate_keeps_generation_mixins_positional_order_and_returns_encoder_outputs(model, batch):
    features = batch.pop("input_features")
    tokens = model.generate(features, GenerationConfig(max_new_tokens=3, min_new_tokens=3), **batch)
    assert tokens.shape == (2, 4)
    torch.testing.assert_close(
        tokens, model.generate(input_features=features, max_new_tokens=3, min_new_tokens=3, **batch)
    )
    out = model.generate(
        features,
        max_new_tokens=3,
        return_dict_in_generate=True,
        output_attentions=True,
        output_hidden_states=True,
        **batch,
    )
    assert len(out.encoder_attentions) == 2 and all(w is not None for w in out.encoder_attentions)
    assert len(out.encoder_hidden_states) == 3 and len(out.cross_attentions) == out.sequences.shape[1] - 1
    with pytest.raises(ValueError, match="once"):
        model.generate(features, input_features=features, **batch)


def test_max_new_tokens_does_not_warn_about_max_length(model, batch):
    logger = logging.get_logger("transformers.generation.utils")
    with CaptureLogger(logger) as captured:
        model.generate(**batch, max_new_tokens=3)
        model.generate(**batch, max_length=5)
    assert "max_length" not in captured.out


def test_a_2d_decoder_attention_mask_must_cover_every_decoder_position(model, batch):
    with pytest.raises(ValueError, match="decoder_attention_mask"):
        model(**batch, decoder_input_ids=PROMPT, decoder_attention_mask=torch.ones(2, 3, dtype=torch.long))
