"""Echo's network: shapes, the seed's bugs fixed (DESIGN.md 1-11), equivalences between code paths, errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import audio_inputs, tiny_config, tiny_model

from echo_hf import EchoConfig, EchoForConditionalGeneration
from echo_hf.attention_echo import eager_attention_forward, mark_queries, mark_zero_keys
from echo_hf.frontends_echo import conv1d_time_major
from echo_hf.modeling_echo import CACHE_FIELD


def labels_for(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    labels = torch.randint(1, 64, (batch, length), generator=torch.Generator().manual_seed(seed))
    labels[:, -1] = 0  # end of text
    return labels


def test_forward_shapes_for_each_view(model):
    inputs = audio_inputs([2.0, 1.5])
    labels = labels_for(2, 6)
    for keys in (("input_features", "attention_mask"), ("waveform", "waveform_attention_mask"), tuple(inputs)):
        out = model(**{k: inputs[k] for k in keys}, labels=labels)
        assert out.logits.shape == (2, 6, 64)
        assert out.encoder_last_hidden_state.shape == (2, 100, 32)  # 2 s -> 200 mel frames -> 100 positions
        assert torch.isfinite(out.loss)


def test_views_blend_by_the_learned_weight(model):
    inputs = audio_inputs([1.0])
    encoder = model.get_encoder()
    spec, _, _ = encoder.embed_audio(inputs["input_features"], None, inputs["attention_mask"], None)
    wave, _, _ = encoder.embed_audio(None, inputs["waveform"], None, inputs["waveform_attention_mask"])
    both, _, _ = encoder.embed_audio(*[inputs[k] for k in ("input_features", "waveform", "attention_mask")], None)
    blend = torch.sigmoid(encoder.blend_logit)
    torch.testing.assert_close(both, blend * spec + (1 - blend) * wave)


# --- the seed's bugs, one test each (DESIGN.md) ---


def test_fix1_future_tokens_never_change_past_logits(model):
    inputs = audio_inputs([1.0])
    ids = torch.tensor([[0, 5, 9, 12, 7]])
    changed = ids.clone()
    changed[0, 3] = 30
    a = model(**inputs, decoder_input_ids=ids).logits
    b = model(**inputs, decoder_input_ids=changed).logits
    torch.testing.assert_close(a[:, :3], b[:, :3], rtol=0, atol=0)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_fix2_text_sees_the_audio(model):
    # In float64 so that a small (freshly initialised) influence is far above rounding; the seed's is exactly 0.
    model = model.double()
    ids = torch.tensor([[0, 5, 9]])
    a, b = ({k: v.double() if v.is_floating_point() else v for k, v in audio_inputs([1.0], s).items()} for s in (0, 1))
    difference = (model(**a, decoder_input_ids=ids).logits - model(**b, decoder_input_ids=ids).logits).abs().max()
    assert difference > 1e-9


def test_fix3_cross_attention_mask_is_query_by_key():
    model = tiny_model(attn_implementation="eager")
    out = model(**audio_inputs([3.0]), decoder_input_ids=torch.tensor([[0, 5, 9]]), output_attentions=True)
    assert out.cross_attentions[0].shape == (1, 4, 3, 150)  # 3 tokens attend to 150 audio positions
    assert out.decoder_attentions[0].shape == (1, 4, 3, 3)
    torch.testing.assert_close(out.cross_attentions[0].sum(-1), torch.ones(1, 4, 3))


def test_fix4_blends_learn():
    model = tiny_model().train()
    blends = [model.model.encoder.blend_logit] + [layer.cross_gate for layer in model.model.decoder.layers]
    before = [b.item() for b in blends]
    loss = model(**audio_inputs([1.0, 0.5]), labels=labels_for(2, 5)).loss
    loss.backward()
    assert all(b.grad is not None and b.grad.abs() > 0 for b in blends)
    torch.optim.Adam(model.parameters(), lr=1e-2).step()
    assert all(b.item() != v for b, v in zip(blends, before, strict=True))


def test_fix5_residual_is_added_once(model):
    layer = model.model.encoder.layers[0]
    for linear in (layer.self_attn.out_proj, layer.mlp.fc2):  # both branches now output exactly 0
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
    x = torch.randn(2, 7, 32)
    out, _ = layer(x)
    torch.testing.assert_close(out, x)  # the seed's block would return 2x


def test_fix6_decoder_positions_are_initialised():
    a, b = tiny_model(seed=3), tiny_model(seed=3)
    positions = a.model.decoder.embed_positions
    assert torch.isfinite(positions).all()
    assert 0.01 < positions.std().item() < 0.03  # normal(0, init_std=0.02), not leftover memory
    torch.testing.assert_close(positions, b.model.decoder.embed_positions)


def test_fix7_end_of_text_is_a_target(model):
    inputs = audio_inputs([1.0])
    labels = torch.tensor([[7, 9, 0, -100, -100]])
    out = model(**inputs, labels=labels)
    log_probs = out.logits.log_softmax(-1)[0]
    expected = -(log_probs[0, 7] + log_probs[1, 9] + log_probs[2, 0]) / 3  # three targets, the 0 included
    torch.testing.assert_close(out.loss, expected)


def test_fix8_zero_masks_come_from_the_inputs(model):
    inputs = audio_inputs([2.0])
    inputs["input_features"][:, :, 100:160] = 0  # 0.6 s of digital silence: positions 50..79
    inputs["waveform"][:, 16000:25600] = 0
    encoder_out = model.get_encoder()(**inputs)
    expected = torch.zeros(1, 100, dtype=torch.bool)
    expected[0, 50:80] = True
    assert torch.equal(encoder_out.zero_mask, expected)
    # and the mask is used: epsilon changes the output when silent keys exist, and only then
    other_epsilon = tiny_model(zero_attention_epsilon=0.1).get_encoder()
    assert (other_epsilon(**inputs).last_hidden_state - encoder_out.last_hidden_state).abs().max() > 1e-3
    loud = audio_inputs([2.0])
    torch.testing.assert_close(
        other_epsilon(**loud).last_hidden_state, model.get_encoder()(**loud).last_hidden_state, rtol=0, atol=0
    )


def test_fix9_cached_decoding_equals_full_forward(model):
    inputs = audio_inputs([1.0, 0.7])
    ids = torch.tensor([[0, 5, 0, 12, 7, 3], [0, 8, 9, 0, 0, 0]])  # zeros inside and at the end
    full = model(**inputs, decoder_input_ids=ids, use_cache=False).logits
    encoder_outputs = model.get_encoder()(**inputs)
    cache, steps = None, []
    for t in range(ids.shape[1]):  # one token at a time, and nothing but the cache carries the past
        out = model(encoder_outputs=encoder_outputs, decoder_input_ids=ids[:, t : t + 1], cache=cache, use_cache=True)
        cache = out[CACHE_FIELD]
        steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_fix9_cross_attention_keys_are_computed_once_per_generation(model):
    calls = []
    handle = model.model.decoder.layers[0].cross_attn.k_proj.register_forward_hook(lambda *a: calls.append(1))
    model.generate(**audio_inputs([1.0]), max_new_tokens=6, min_new_tokens=6)
    handle.remove()
    assert len(calls) == 1


@pytest.mark.parametrize(
    "channels, kernel, stride", [((1, 8), 20, 10), ((8, 16), 8, 4), ((16, 32), 4, 4), ((4, 6), 7, 3)]
)
def test_time_major_waveform_convolution_equals_conv1d(channels, kernel, stride):
    # The waveform front-end's convolutions run as matrix products on time-major activations (block windows when
    # kernel = taps * stride, `unfold` otherwise): outputs and gradients must be nn.Conv1d's.
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(*channels, kernel, stride=stride, padding=(kernel - stride) // 2)
    x = torch.randn(2, 997, channels[0], requires_grad=True)
    expected = conv(x.transpose(1, 2)).transpose(1, 2)
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, conv.weight, conv.bias))
    got = conv1d_time_major(x, conv)
    got_grads = torch.autograd.grad(got.square().sum(), (x, conv.weight, conv.bias))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_fix10_short_clips_use_fewer_positions_and_batch_equals_single():
    model = tiny_model(max_source_positions=1500, zero_attention_epsilon=0.0)
    assert model.get_encoder()(**audio_inputs([5.0])).last_hidden_state.shape[1] == 250
    assert model.get_encoder()(**audio_inputs([30.0])).last_hidden_state.shape[1] == 1500
    batch = audio_inputs([1.3, 0.6, 0.95], seed=4)
    ids = torch.tensor([[0, 5, 9, 3]] * 3)
    batched = model(**batch, decoder_input_ids=ids).logits
    for i, seconds in enumerate([1.3, 0.6, 0.95]):
        n, t = int(seconds * 16000), int(seconds * 16000) // 160
        single = {
            "input_features": batch["input_features"][i : i + 1, :, :t],
            "waveform": batch["waveform"][i : i + 1, :n],
        }
        alone = model(**single, decoder_input_ids=ids[:1]).logits
        torch.testing.assert_close(batched[i : i + 1], alone, rtol=1e-4, atol=1e-5)


def test_soft_padding_changes_a_padded_clip_by_order_epsilon():
    model = tiny_model()  # epsilon 1e-6: padded positions keep a tiny weight, as silence does
    batch = audio_inputs([1.0, 0.5])
    ids = torch.tensor([[0, 5, 9]])
    batched = model(**batch, decoder_input_ids=ids.expand(2, -1)).logits[1]
    alone = model(
        input_features=batch["input_features"][1:, :, :50], waveform=batch["waveform"][1:, :8000], decoder_input_ids=ids
    ).logits[0]
    difference = (batched - alone).abs().max().item()
    assert 0 < difference < 1e-3


def test_fix11_precision_is_the_callers_choice(model):
    inputs = audio_inputs([1.0])
    labels = labels_for(1, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**inputs, labels=labels)
    assert out.logits.dtype == torch.bfloat16
    full = model(**inputs, labels=labels)
    assert full.logits.dtype == torch.float32
    assert abs(out.loss.item() - full.loss.item()) < 0.05


def test_bf16_weights_run_a_padded_batch():
    # A padded batch masks the squeeze-excitation's mean: the mask must not lift bf16 activations to float32.
    model = tiny_model().eval()
    batch = audio_inputs([1.0, 0.6])
    ids = torch.tensor([[0, 5, 9]]).expand(2, -1)
    full = model(**batch, decoder_input_ids=ids).logits
    half = model.to(torch.bfloat16)(
        **{key: value.to(torch.bfloat16) if value.is_floating_point() else value for key, value in batch.items()},
        decoder_input_ids=ids,
    ).logits
    assert half.dtype == torch.bfloat16
    assert (half.float() - full).abs().max().item() < 0.1 * full.abs().max().item()


# --- the soft zero mask (DESIGN.md: attention) ---


def attend(q, k, v, is_zero, **config):
    """Eager attention over keys marked as Echo marks them -> output, weights (batch, heads, q, k)."""
    config = tiny_config(**config)
    k, v = mark_zero_keys(k, v, is_zero, config)
    output, weights = eager_attention_forward(torch.nn.Module(), mark_queries(q, 0.35, config), k, v, None, 0.35)
    return output[..., : q.shape[-1]], weights


def test_zero_key_weight_is_epsilon_times_its_unmasked_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    is_zero = torch.tensor([[False, True, False, True, False]])
    _, plain = attend(q, k, v, None)
    _, soft = attend(q, k, v, is_zero, zero_attention_epsilon=1e-3)
    ratio = (soft / soft[..., :1]) / (plain / plain[..., :1])  # weights relative to a non-zero key
    expected = torch.where(is_zero, 1e-3, 1.0).expand_as(ratio)
    torch.testing.assert_close(ratio, expected, rtol=1e-4, atol=0)


def test_marked_keys_equal_an_additive_bias_and_the_seeds_logit_scaling():
    # The mark a zero key carries (an extra channel read by the query's 1 / scaling) adds exactly log(eps) to its
    # logits, in SDPA as in eager; in the seed's mode, eps times the key is eps times its logits.
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    is_zero = torch.tensor([[False, True, False, True, False], [True, False, False, False, True]])
    logits = q @ k.transpose(-1, -2) * 0.35
    for mode, reference in (
        ("bias", logits + torch.where(is_zero, math.log(1e-3), 0.0)[:, None, None, :]),
        ("scale_logits", logits * torch.where(is_zero, 1e-3, 1.0)[:, None, None, :]),
    ):
        expected = reference.softmax(-1) @ v  # (batch, heads, q, head_dim)
        config = tiny_config(zero_attention_epsilon=1e-3, zero_attention_mode=mode)
        marked_k, marked_v = mark_zero_keys(k, v, is_zero, config)
        sdpa = F.scaled_dot_product_attention(mark_queries(q, 0.35, config), marked_k, marked_v, scale=0.35)
        torch.testing.assert_close(sdpa[..., :8], expected, rtol=1e-5, atol=1e-6)
        eager, weights = attend(q, k, v, is_zero, zero_attention_epsilon=1e-3, zero_attention_mode=mode)
        torch.testing.assert_close(eager.transpose(1, 2), expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(weights, reference.softmax(-1), rtol=1e-5, atol=1e-6)


def test_epsilon_zero_is_a_hard_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    keep = torch.tensor([0, 2, 4])
    is_zero = torch.tensor([[False, True, False, True, False]])
    masked, _ = attend(q, k, v, is_zero, zero_attention_epsilon=0.0)
    cut, _ = attend(q, k[:, :, keep], v[:, :, keep], None)
    torch.testing.assert_close(masked, cut)


def test_silent_clip_gives_finite_outputs_even_with_a_hard_mask():
    model = tiny_model(zero_attention_epsilon=0.0)
    silent = {"input_features": torch.zeros(1, 128, 100), "waveform": torch.zeros(1, 16000)}
    out = model(**silent, decoder_input_ids=torch.tensor([[0, 4]]))
    assert torch.isfinite(out.logits).all()


def test_seed_logit_scaling_mode_runs_in_sdpa_and_differs_from_bias():
    inputs, ids = audio_inputs([1.0]), torch.tensor([[0, 5, 0, 9]])
    inputs["input_features"][:, :, :40] = 0
    inputs["waveform"][:, :6400] = 0
    seed_sdpa = tiny_model(zero_attention_mode="scale_logits")(**inputs, decoder_input_ids=ids).logits
    seed_eager = tiny_model(zero_attention_mode="scale_logits", attn_implementation="eager")
    bias_mode = tiny_model()(**inputs, decoder_input_ids=ids).logits
    torch.testing.assert_close(seed_sdpa, seed_eager(**inputs, decoder_input_ids=ids).logits, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(seed_sdpa).all() and (seed_sdpa - bias_mode).abs().max() > 1e-4


# --- equivalences between code paths ---


def test_sdpa_equals_eager():
    inputs, labels = audio_inputs([1.2, 0.8]), labels_for(2, 6)
    inputs["input_features"][0, :, 30:60] = 0
    sdpa = tiny_model(attn_implementation="sdpa")(**inputs, labels=labels)
    eager = tiny_model(attn_implementation="eager")(**inputs, labels=labels)
    torch.testing.assert_close(sdpa.logits, eager.logits, rtol=1e-4, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    inputs, labels = audio_inputs([1.0, 0.5]), labels_for(2, 5)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            model.activation_checkpointing_enable()
        model(**inputs, labels=labels).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1])


def test_generate_greedy_and_beam_batched_equal_single(model):
    inputs = audio_inputs([1.0, 0.6], seed=2)
    for num_beams in (1, 3):
        batched = model.generate(**inputs, max_new_tokens=8, num_beams=num_beams)
        assert batched.shape[0] == 2 and (batched[:, 0] == 0).all()
        for i, n in enumerate([16000, 9600]):
            single = model.generate(
                input_features=inputs["input_features"][i : i + 1, :, : n // 160],
                waveform=inputs["waveform"][i : i + 1, :n],
                max_new_tokens=8,
                num_beams=num_beams,
            )
            length = single.shape[1]
            assert torch.equal(batched[i, :length], single[0])


def test_generate_from_one_view_only(model):
    inputs = audio_inputs([1.0])
    for view in ("input_features", "waveform"):
        tokens = model.generate(**{view: inputs[view]}, max_new_tokens=4, min_new_tokens=4)
        assert tokens.shape == (1, 5)


def test_generation_config_uses_id_zero_and_transcripts_may_fill_the_decoder(model):
    config = model.generation_config
    assert (config.decoder_start_token_id, config.eos_token_id, config.pad_token_id) == (0, 0, 0)
    assert (config.max_length, config.max_new_tokens) == (None, None)  # no length there: see generate()
    tokens = model.generate(**audio_inputs([1.0]), min_length=24)  # never stops early, so it runs to the limit
    assert tokens.shape == (1, 24)  # max_target_positions, the start token included


def test_seed_preset_builds_and_runs():
    config = EchoConfig.from_json_file("configs/seed.json")
    assert (config.d_model, config.encoder_layers, config.decoder_layers, config.vocab_size) == (512, 4, 4, 51865)
    model = EchoForConditionalGeneration(config).eval()
    assert sum(p.numel() for p in model.parameters()) == 58_870_277  # the figure the README states
    with torch.no_grad():
        out = model(**audio_inputs([1.0]), labels=labels_for(1, 4))
    assert out.logits.shape == (1, 4, 51865) and torch.isfinite(out.loss)


def test_ctc_loss_of_a_padded_batch_equals_each_clip_alone():
    weight = 0.3
    model = tiny_model(ctc_loss_weight=weight, zero_attention_epsilon=0.0)
    assert tiny_model().ctc_head is None  # weight 0: no head, no extra parameters
    seconds = [1.3, 0.6]
    batch = audio_inputs(seconds, seed=2)
    labels = torch.tensor([[5, 9, 3, 7, 0], [8, 4, 0, -100, -100]])
    out = model(**batch, labels=labels)

    cross_entropy = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    ctc_sum = 0.0
    for i, s in enumerate(seconds):
        alone = {"input_features": batch["input_features"][i : i + 1, :, : int(s * 100)],
                 "waveform": batch["waveform"][i : i + 1, : int(s * 16000)]}  # fmt: skip
        states = model.get_encoder()(**alone).last_hidden_state
        log_probs = model.ctc_head(states).log_softmax(-1)[0]  # (positions, vocab)
        target = labels[i][labels[i] > 0]
        lengths = (log_probs.shape[0],), (len(target),)
        ctc_sum += torch.nn.functional.ctc_loss(log_probs, target, *lengths, reduction="sum")
    tokens = (labels != -100).sum()
    torch.testing.assert_close(out.loss, (1 - weight) * cross_entropy + weight * ctc_sum / tokens, rtol=1e-4, atol=1e-5)

    out.loss.backward()
    assert model.ctc_head.weight.grad.abs().sum() > 0


def test_encoder_output_lengths_count_the_unpadded_positions():
    encoder = tiny_model(zero_attention_epsilon=0.0).get_encoder()
    batch = audio_inputs([1.3, 0.6, 0.95])
    spectrogram = encoder(input_features=batch["input_features"], attention_mask=batch["attention_mask"])
    assert spectrogram.lengths.tolist() == [65, 30, 48]  # 130, 60, 95 mel frames at stride 2 (the last rounds up)
    wave = encoder(waveform=batch["waveform"], waveform_attention_mask=batch["waveform_attention_mask"])
    assert wave.lengths.tolist() == [65, 30, 47]  # 320 samples per position, rounded down
    assert encoder(**batch).lengths.tolist() == [65, 30, 48]  # both views: the spectrogram sets the count
    assert encoder(**audio_inputs([1.0, 1.0])).lengths.tolist() == [50, 50]  # nothing padded


def test_views_whose_strides_disagree_are_refused_not_fitted():
    model = tiny_model(waveform_conv_strides=[10, 4, 4, 4])  # 640 samples a position against the spectrogram's 320
    with pytest.raises(ValueError, match="waveform_conv_strides"):
        model.get_encoder()(**audio_inputs([1.0]))


# --- errors a user can cause ---


def test_errors_name_the_problem(model):
    with pytest.raises(ValueError, match="needs audio"):
        model(decoder_input_ids=torch.tensor([[0]]))
    with pytest.raises(ValueError, match="decoder_input_ids` or `labels`"):
        model(**audio_inputs([0.5]))
    with pytest.raises(ValueError, match="at most 24"):
        model(**audio_inputs([0.5]), labels=torch.ones(1, 30, dtype=torch.long))
    with pytest.raises(ValueError, match="chunk_length_s"):
        model(**audio_inputs([7.0]), decoder_input_ids=torch.tensor([[0]]))  # 350 positions > 300


def test_alignment_heads_default_to_the_upper_half(model):
    assert model.config.alignment_heads == [[1, h] for h in range(4)]  # 2 decoder layers: the upper one
