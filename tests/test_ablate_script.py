"""scripts/ablate.py: every row's run differs from the base recipe by its own change only, and the summary's numbers
are those of its runs."""

import json
import sys
from pathlib import Path

import pytest

from echo_hf.training.augmentation import EchoAugmentationConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
import ablate  # noqa: E402


@pytest.fixture
def planned(tmp_path):
    args = ablate.parse_args(
        ["--out", str(tmp_path / "table"), "--runs", str(tmp_path), "--steps", "7", "--seeds", "0", "3"]
    )
    return ablate.run_configs(args), json.loads(Path(args.base).read_text())


def test_rows_change_only_their_own_setting(planned):
    runs, base = planned
    assert [(row, seed) for row, seed, _ in runs] == [(row, seed) for row in ablate.DESIGN_ROWS for seed in (0, 3)]
    echo = json.loads(Path(base["model"]).read_text())
    for row, seed, folder in runs:
        config = json.loads((folder / "train.json").read_text())
        model = json.loads((folder / "model.json").read_text())
        assert config["training_args"]["max_steps"] == 7 and config["training_args"]["seed"] == seed
        assert config["test_split"] == ["test", "held_out_voices"] and config["max_train_minutes"] is None
        same = {"tokenizer", "tokenizer_vocab_size", "data", "train_split"}
        assert {key: config[key] for key in same} == {key: base[key] for key in same}
        # Each seed draws its own augmentations; the no_augmentation row has none.
        expected = None if row == "no_augmentation" else {**base["augmentation"], "seed": seed}
        assert config.get("augmentation") == expected
        for key in ("learning_rate", "per_device_train_batch_size", "lr_scheduler_type", "warmup_steps"):
            assert config["training_args"][key] == base["training_args"][key]
        if row == "whisper":
            assert model["model_type"] == "whisper" and model["max_source_positions"] % 50 == 0
            # Its fixed input holds the longest clip as the slowest speed perturbation stretches it.
            slowest = base["augmentation"]["speed"]["factor"][0]
            assert model["max_source_positions"] / 50 >= 8.0 / slowest
            for key in ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "encoder_ffn_dim"):
                assert model[key] == echo[key]
        else:
            changed = {key for key in model.keys() | echo.keys() if model.get(key) != echo.get(key)}
            assert changed == set(ablate.ROWS[row][1])


def test_augmentation_rows_add_or_remove_one_augmentation(tmp_path):
    rows = list(ablate.AUGMENTATION_ROWS)
    args = ablate.parse_args(["--runs", str(tmp_path), "--steps", "7", "--seeds", "0", "1", "--rows", *rows])
    base = json.loads(Path(args.base).read_text())
    echo = json.loads(Path(base["model"]).read_text())
    recipe = {name: value for name, value in base["augmentation"].items() if name != "seed"}
    for row, seed, folder in ablate.run_configs(args):
        config = json.loads((folder / "train.json").read_text())
        model = json.loads((folder / "model.json").read_text())
        augmentation = config["augmentation"]
        assert augmentation.pop("seed") == seed
        if row.startswith("no_"):
            removed = row.removeprefix("no_")
            assert augmentation == {name: value for name, value in recipe.items() if name != removed}
        elif row == "spec_augment":
            assert augmentation == recipe
            assert model["apply_spec_augment"] is True and model["mask_feature_prob"] > 0
        else:
            assert augmentation == {**recipe, row: {"p": 0.3}}
        if row != "spec_augment":
            assert model == echo
        # Augmentation settings are checked when a run config loads: every row's are valid.
        EchoAugmentationConfig.from_dict(config["augmentation"])


def test_summary_reports_mean_and_spread_over_seeds():
    metrics = {"total_parameters": 10, "wall_seconds": 60.0}
    runs = [
        {
            "row": "echo",
            "seed": 0,
            **metrics,
            "test_loss": 1.0,
            "test_wer": 0.4,
            "test_cer": 0.2,
            "test_held_out_voices_loss": 2.0,
            "test_held_out_voices_wer": 0.6,
            "test_held_out_voices_cer": 0.3,
        },
        {
            "row": "echo",
            "seed": 1,
            **metrics,
            "test_loss": 1.2,
            "test_wer": 0.5,
            "test_cer": 0.3,
            "test_held_out_voices_loss": 2.5,
            "test_held_out_voices_wer": 0.8,
            "test_held_out_voices_cer": 0.5,
        },
    ]
    (row,) = ablate.summary(runs)
    assert row["test_held_out_voices_wer"] == {"mean": pytest.approx(0.7), "min": 0.6, "max": 0.8}
    assert row["test_loss"] == {"mean": pytest.approx(1.1), "min": 1.0, "max": 1.2}
    assert row["wall_minutes"] == 1.0
    assert "0.700 (0.600-0.800)" in ablate.table([row], 7)
    # Against an echo row, each row's voice-held-out WER difference (mean - mean).
    other = {**row, "row": "pitch", "test_held_out_voices_wer": {"mean": 0.65, "min": 0.6, "max": 0.7}}
    lines = ablate.table([row, other], 7).splitlines()
    assert lines[0].endswith("| voice-held-out WER - echo's | minutes |")
    assert lines[2].endswith("| +0.000 | 1.0 |") and lines[3].endswith("| -0.050 | 1.0 |")


def test_one_seed_is_refused():
    with pytest.raises(SystemExit):
        ablate.parse_args(["--seeds", "0"])


def test_a_finished_run_is_reused_only_with_the_same_config(planned, monkeypatch):
    runs, _ = planned
    row, seed, folder = runs[0]
    (folder / "run").mkdir()
    (folder / "run" / "all_results.json").write_text(json.dumps({"test_wer": 0.5}))
    planned_files = {name: json.loads((folder / f"{name}.json").read_text()) for name in ("train", "model")}
    (folder / "wall_seconds.json").write_text(json.dumps({"wall_seconds": 30.0, "planned": planned_files}))
    failed = type("Completed", (), {"returncode": 1})
    monkeypatch.setattr(ablate.subprocess, "run", lambda *args, **kwargs: failed)
    assert ablate.train(row, seed, folder) == {"row": row, "seed": seed, "wall_seconds": 30.0, "test_wer": 0.5}
    # The same folder planned with other steps is trained again (here: the stand-in training fails).
    config = json.loads((folder / "train.json").read_text())
    config["training_args"]["max_steps"] += 1
    (folder / "train.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="failed"):
        ablate.train(row, seed, folder)


def test_summary_only_rewrites_the_table_and_plots_from_finished_runs(tmp_path):
    for seed, wer in ((0, 0.4), (1, 0.6)):
        run = tmp_path / f"echo-50steps-seed{seed}" / "run"
        run.mkdir(parents=True)
        metrics = {"total_parameters": 10, **{f"{split}_{m}": wer for split in ablate.SPLITS for m in ablate.METRICS}}
        (run / "all_results.json").write_text(json.dumps(metrics))
        (run.parent / "wall_seconds.json").write_text(json.dumps({"wall_seconds": 60.0}))
        history = [{"step": step, "loss": 2.0, "view_blend": 0.6 + step / 1000} for step in (25, 50)]
        (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    ablate.main(
        ["--summary-only", "--rows", "echo", "--seeds", "0", "1", "--out", str(tmp_path), "--runs", str(tmp_path)]
        + ["--steps", "50"]
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["rows"][0]["test_wer"] == {"mean": pytest.approx(0.5), "min": 0.4, "max": 0.6}
    assert "0.500 (0.400-0.600)" in (tmp_path / "table.md").read_text()
    for name in ("ablation.png", "view_blend.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
