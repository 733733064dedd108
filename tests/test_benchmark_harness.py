"""The benchmark harness (benchmarks/, outside the package) still builds its cases and measures from its own file."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from harness import BenchSettings, build_models, measure_train_memory, train_cases  # noqa: E402


def test_cases_run_and_the_memory_child_reports_a_peak(monkeypatch):
    monkeypatch.chdir(BENCHMARKS.parent)  # presets are read from configs/, as `make bench` runs it
    settings = BenchSettings(echo_config="configs/tiny.json", train_batch=1)
    cases = train_cases(*build_models(settings), settings, 1)
    assert set(cases) == {"echo", "echo_spec", "whisper"}
    cases["echo"]()  # one training step of Echo at 1 s
    # CPU: a fresh `python benchmarks/harness.py memory-child ...` builds, steps and reports its peak RSS delta.
    assert measure_train_memory("echo", 1, settings) > 0
