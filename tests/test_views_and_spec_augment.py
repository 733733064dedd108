"""One-view encoders (`audio_views`) and SpecAugment (`apply_spec_augment`): what they build, compute and refuse."""

import pytest
import torch
from conftest import audio_inputs, tiny_config, tiny_model

from echo_hf.frontends_echo import span_mask, spec_augment

IDS = torch.tensor([[0, 5, 9, 12]])


@pytest.mark.parametrize(
    "view, key, unused, other_view",
    [
        ("spectrogram", "input_features", "waveform", "waveform"),
        ("waveform", "waveform", "input_features", "spectrogram"),
    ],
)
def test_one_view_model_builds_and_hears_that_view_only(view, key, unused, other_view):
    model = tiny_model(audio_views=view)
    names = {name.split(".")[2] for name, _ in model.named_parameters() if name.startswith("model.encoder.")}
    assert {f"{view}_frontend", f"{view}_norm"} <= names
    assert not {f"{other_view}_frontend", f"{other_view}_norm", "blend_logit"} & names
    inputs = audio_inputs([1.0, 0.6])
    masks = {"input_features": "attention_mask", "waveform": "waveform_attention_mask"}
    alone = {key: inputs[key], masks[key]: inputs[masks[key]]}
    # The other view's input is ignored: both inputs give what this view alone gives.
    torch.testing.assert_close(
        model(**inputs, decoder_input_ids=IDS.repeat(2, 1)).logits,
        model(**alone, decoder_input_ids=IDS.repeat(2, 1)).logits,
    )
    two_view = tiny_model()
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in two_view.parameters())
    with pytest.raises(ValueError, match=f"audio_views='{view}'"):
        model(**{unused: inputs[unused]}, decoder_input_ids=IDS)


def test_one_view_model_saves_and_loads(tmp_path):
    model = tiny_model(audio_views="waveform")
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path).eval()
    inputs = audio_inputs([0.8])
    torch.testing.assert_close(
        loaded(**inputs, decoder_input_ids=IDS).logits, model(**inputs, decoder_input_ids=IDS).logits
    )


def test_bad_view_and_mask_settings_are_value_errors():
    for overrides, message in (
        ({"audio_views": "mel"}, "audio_views must be one of"),
        ({"mask_time_prob": 1.5}, "mask_time_prob must be in"),
        ({"mask_feature_length": 0}, "mask_feature_length must be at least 1"),
        ({"mask_time_min_masks": -1}, "mask_time_min_masks must be at least 0"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny_config(**overrides)


def test_span_mask_covers_about_the_asked_share_inside_each_clip():
    torch.manual_seed(0)
    lengths = torch.tensor([400, 200, 5])
    mask = span_mask(lengths, 400, prob=0.1, span=10, min_spans=2)
    assert not mask[1, 200:].any() and not mask[2].any()  # nothing past a clip's end; too short for one span
    share = mask[0].float().mean().item()
    assert 0.04 < share < 0.12  # spans may overlap, so at most prob, a little under on average
    assert mask[1].sum() >= 10  # at least one span (min 2, possibly overlapping)


def test_span_mask_with_probability_zero_masks_nothing():
    # As Whisper's mask_time_prob: 0 turns masking off, whatever the fewest-masks setting.
    assert not span_mask(torch.tensor([400, 200]), 400, prob=0.0, span=10, min_spans=2).any()


def test_spec_augment_of_the_waveform_alone_masks_inside_each_clip():
    config = tiny_config(apply_spec_augment=True, mask_time_prob=0.05, mask_time_min_masks=2)
    inputs = audio_inputs([2.0, 0.5])
    hop = config.samples_per_position // config.spectrogram_stride
    valid = int(inputs["waveform_attention_mask"][1].sum())
    assert not (inputs["waveform"][1, :valid] == 0).any()
    for seed in range(10):
        torch.manual_seed(seed)
        _, waveform = spec_augment(
            None, inputs["waveform"], None, config, sample_lengths=inputs["waveform_attention_mask"].sum(-1)
        )
        # The short clip's two masks of 10 frames fall inside its half second, not in the padding after it.
        assert (waveform[1, :valid] == 0).sum() >= 9 * hop


def test_spec_augment_zeroes_the_same_time_spans_in_both_views():
    config = tiny_config(apply_spec_augment=True, mask_time_prob=0.2, mask_feature_prob=0.1, mask_feature_min_masks=1)
    inputs = audio_inputs([1.0, 0.5])
    before = {key: value.clone() for key, value in inputs.items()}
    torch.manual_seed(3)
    features, waveform = spec_augment(
        inputs["input_features"], inputs["waveform"], inputs["attention_mask"].sum(-1), config
    )
    for key, value in before.items():
        torch.testing.assert_close(inputs[key], value, rtol=0, atol=0)  # inputs untouched
    hop = config.samples_per_position // config.spectrogram_stride
    silent_frames = (features == 0).all(1) & inputs["attention_mask"].bool()
    assert silent_frames[0].sum() >= 10
    for row in range(2):
        for frame in torch.nonzero(silent_frames[row]).flatten().tolist():
            # Mel frame f is centred on sample f * hop: its samples are the hop around it.
            assert not waveform[row, max(0, frame * hop - hop // 2) : frame * hop + hop // 2].any()
    # Frequency bands: some mel bins are zero in every frame of the clip, the others are not.
    zero_bins = (features[0, :, :100] == 0).all(-1)
    assert 1 <= zero_bins.sum() < config.num_mel_bins
    torch.manual_seed(3)
    again = spec_augment(inputs["input_features"], inputs["waveform"], inputs["attention_mask"].sum(-1), config)
    torch.testing.assert_close(again[0], features, rtol=0, atol=0)


def test_spec_augment_runs_in_training_only():
    inputs = audio_inputs([1.0])
    plain, masked = tiny_model(), tiny_model(apply_spec_augment=True, mask_time_prob=0.3)
    masked.load_state_dict(plain.state_dict())
    torch.testing.assert_close(
        masked(**inputs, decoder_input_ids=IDS).logits, plain(**inputs, decoder_input_ids=IDS).logits
    )
    masked.train()
    plain.train()
    torch.manual_seed(0)
    changed = masked(**inputs, decoder_input_ids=IDS).logits
    torch.manual_seed(0)
    assert not torch.allclose(changed, plain(**inputs, decoder_input_ids=IDS).logits)
