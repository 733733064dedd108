"""EchoConfig: bad values raise a plain ValueError naming the option and value; valid configs round-trip."""

import pytest
from conftest import tiny_config as tiny

from echo_hf import EchoConfig


# `pytest.raises(ValueError)` also checks the type: `@strict`'s StrictDataclassClassValidationError is no ValueError.
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"waveform_conv_channels": [8, 16, 32, 64]}, r"waveform_conv_channels must end with d_model=32.*64\]"),
        ({"waveform_conv_kernels": [11, 8, 4, 4]}, r"kernel minus its stride must be even.*kernels \[11, 8, 4, 4\]"),
        ({"eos_token_id": 2}, r"token id 0.*eos_token_id=2"),
        ({"eos_token_id": [0, 2]}, r"token id 0.*eos_token_id=\[0, 2\]"),
        ({"zero_attention_mode": "multiply"}, r"zero_attention_mode must be one of.*'multiply'"),
        ({"ctc_loss_weight": 1.0}, r"ctc_loss_weight must be in \[0, 1\).*got 1\.0"),
        ({"cross_attention_residual": "residual"}, r"cross_attention_residual must be one of.*'residual'"),
        ({"zero_attention_epsilon": 1.0}, r"zero_attention_epsilon must be in \[0, 1\).*got 1\.0"),
        ({"zero_attention_epsilon": -0.1}, r"zero_attention_epsilon must be in \[0, 1\).*got -0\.1"),
    ],
)
def test_bad_values_raise_value_error_naming_option_and_value(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides)


def test_edge_values_are_accepted():
    config = tiny(zero_attention_epsilon=0.0, ctc_loss_weight=0.0, eos_token_id=[0])
    assert (config.zero_attention_epsilon, config.ctc_loss_weight, config.eos_token_id) == (0.0, 0.0, [0])


def non_default_config() -> EchoConfig:
    return tiny(
        cross_attention_residual="add",
        zero_attention_mode="scale_logits",
        zero_attention_epsilon=1e-3,
        ctc_loss_weight=0.3,
        alignment_heads=[[0, 1], [1, 3]],
    )


def test_round_trips_through_to_dict():
    config = non_default_config()
    reloaded = EchoConfig(**config.to_dict())
    assert reloaded.to_diff_dict() == config.to_diff_dict()
    assert reloaded.waveform_conv_channels == [8, 16, 32, 32] and reloaded.alignment_heads == [[0, 1], [1, 3]]


def test_round_trips_through_save_pretrained(tmp_path):
    config = non_default_config()
    config.save_pretrained(tmp_path)
    reloaded = EchoConfig.from_pretrained(tmp_path)
    assert reloaded.to_diff_dict() == config.to_diff_dict()
    assert (reloaded.d_model, reloaded.ctc_loss_weight, reloaded.zero_attention_mode) == (32, 0.3, "scale_logits")


def test_bad_saved_config_raises_value_error_on_load(tmp_path):
    tiny(ctc_loss_weight=0.5).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"ctc_loss_weight": 0.5', '"ctc_loss_weight": 1.0'))
    assert '"ctc_loss_weight": 1.0' in path.read_text()
    with pytest.raises(ValueError, match=r"ctc_loss_weight must be in \[0, 1\).*got 1\.0"):
        EchoConfig.from_pretrained(tmp_path)
