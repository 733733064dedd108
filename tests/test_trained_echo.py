"""The cache key of the trained test model changes with everything that shapes its weights."""

from pathlib import Path

import pytest
import torch
import transformers
from trained_echo import _cache_dir


@pytest.mark.parametrize(
    "changed",
    [
        "echo_hf/__init__.py",
        "echo_hf/training/train.py",
        "echo_hf/training/metrics/echo_wer/echo_wer.py",
        "tests/assets/speech/",
    ],
)
def test_cache_key_covers_every_package_file_and_the_assets(changed, monkeypatch):
    key = _cache_dir()
    read_bytes = Path.read_bytes

    def edited(path: Path) -> bytes:
        return read_bytes(path) + (b"\n# edited" if changed in path.as_posix() else b"")

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert _cache_dir() != key


@pytest.mark.parametrize("library", [torch, transformers])
def test_cache_key_covers_torch_and_transformers_versions(library, monkeypatch):
    key = _cache_dir()
    monkeypatch.setattr(library, "__version__", library.__version__ + ".post1")
    assert _cache_dir() != key
    monkeypatch.undo()
    assert _cache_dir() == key
