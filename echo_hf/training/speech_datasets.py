"""Load any speech dataset for Echo: a `save_to_disk` folder, an audiofolder, or a Hub id; mono 16 kHz audio + text.

Audio is kept encoded (`Audio(decode=False)`) and decoded per batch by `audio_loading.decode_audio` (soundfile, then
librosa when the file's rate differs from the feature extractor's; averaged to mono). This needs no ffmpeg, and no
torchcodec, through which alone datasets 4+ decodes audio (its wheels load only beside a CUDA build of torch), so
every datasets release from 3.6 on works. Audiofolders are read here (`load_audiofolder`) for the same reason:
datasets 4+'s loader encodes each clip with torchcodec even for `Audio(decode=False)`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import datasets
import soundfile as sf
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from .text_normalization import normalize_text

logger = logging.get_logger(__name__)

AUDIO = "audio"
TEXT = "text"
LABELS = "labels"
LENGTH = "input_length"  # audio seconds, read by the Trainer's `group_by_length` sampler


def load_speech_dataset(
    data: str,
    audio_column: str = AUDIO,
    text_column: str = TEXT,
    sampling_rate: int = 16000,
    data_config: str | None = None,
    keep_columns: Sequence[str] = (),
) -> datasets.DatasetDict:
    """Load `data` as a `DatasetDict` whose splits have exactly the columns `audio` (encoded) and `text`, and the
    `keep_columns` (e.g. a speaker column to group WER by) under their own names.

    `data` is a folder written by `save_to_disk` (a `DatasetDict` or a single `Dataset`, which becomes split
    `"train"`), an audiofolder (audio files + `metadata.jsonl` or `.csv`: `load_audiofolder`), or a Hub dataset id
    (`data_config` names its configuration). The audio column is cast to `Audio(sampling_rate, decode=False)`.
    """
    dataset = _load(data, data_config)
    if isinstance(dataset, datasets.Dataset):
        dataset = datasets.DatasetDict({"train": dataset})
    for split, part in dataset.items():
        roles = [(audio_column, "audio_column"), (text_column, "text_column")]
        for column, role in roles + [(column, "keep_columns") for column in keep_columns]:
            if column not in part.column_names:
                raise ValueError(
                    f"The {role} {column!r} is not a column of split {split!r} of {data!r}; its columns are "
                    f"{part.column_names}. Set `{role}` to one of them."
                )
    dataset = dataset.select_columns([audio_column, text_column, *keep_columns])
    if audio_column != AUDIO:
        dataset = dataset.rename_column(audio_column, AUDIO)
    if text_column != TEXT:
        dataset = dataset.rename_column(text_column, TEXT)
    dataset = dataset.cast_column(AUDIO, datasets.Audio(sampling_rate=sampling_rate, decode=False))
    _log_conversions(dataset, sampling_rate)
    return dataset


def _load(data: str, data_config: str | None) -> datasets.Dataset | datasets.DatasetDict:
    path = Path(data)
    if not path.is_dir():
        if path.exists():
            raise ValueError(f"`data` must be a dataset folder or a Hub id, got the file {data!r}.")
        logger.info(f"{data!r} is not a local folder: loading it as a Hub dataset id.")
        return datasets.load_dataset(data, data_config)
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        return datasets.load_from_disk(str(path))
    return load_audiofolder(path)


METADATA_FILES = ("metadata.jsonl", "metadata.csv")
# The folder names datasets' own audiofolder loader reads as the standard splits.
SPLIT_ALIASES = {
    "training": "train",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
}


def load_audiofolder(root: str | Path) -> datasets.DatasetDict:
    """Read an audiofolder: audio files listed by a `metadata.jsonl` or `metadata.csv` (a `file_name` column, relative
    to the metadata file, and any other columns, e.g. `text`), as `datasets.load_dataset("audiofolder")` reads it.

    A metadata file in `root` makes split `"train"`; otherwise each subfolder with one is a split named by the folder
    (`dev` or `valid` is `"validation"`, as datasets names them). The `audio` column holds the files' paths,
    `Audio(decode=False)`.
    """
    root = Path(root)
    folders = [root] if _metadata_file(root) else sorted(sub for sub in root.iterdir() if _metadata_file(sub))
    if not folders:
        raise ValueError(
            f"{str(root)!r} is neither a `save_to_disk` folder nor an audiofolder: it has no "
            f"{' or '.join(METADATA_FILES)} of its own or in a split subfolder. Write one listing each clip's "
            "`file_name` and `text`."
        )
    splits = {}
    for folder in folders:
        split = "train" if folder == root else SPLIT_ALIASES.get(folder.name, folder.name)
        if split in splits:
            raise ValueError(f"Two folders of {str(root)!r} are split {split!r}; rename one of them.")
        splits[split] = _read_audiofolder_split(folder)
    return datasets.DatasetDict(splits)


def _metadata_file(folder: Path) -> Path | None:
    return next((folder / name for name in METADATA_FILES if (folder / name).is_file()), None)


def _read_audiofolder_split(folder: Path) -> datasets.Dataset:
    metadata = _metadata_file(folder)
    with open(metadata, encoding="utf-8", newline="") as handle:
        if metadata.suffix == ".csv":
            rows = list(csv.DictReader(handle))
        else:
            rows = [json.loads(line) for line in handle if line.strip()]
    if not rows:
        raise ValueError(f"{str(metadata)!r} lists no audio files: add one row per file, with its `file_name`.")
    root = folder.resolve()
    paths, names = [], {}  # every row's columns, in first-seen order: a column missing from a row is None there
    for number, row in enumerate(rows, start=1):
        if AUDIO in row:
            raise ValueError(
                f"{str(metadata)!r} has a column {AUDIO!r}, which this loader fills with the audio: rename it."
            )
        if not row.get("file_name"):
            raise ValueError(
                f"Row {number} of {str(metadata)!r} has no `file_name` naming its audio file; its columns: "
                f"{sorted(row)}."
            )
        path = (folder / row.pop("file_name")).resolve()
        if not path.is_relative_to(root):
            raise ValueError(
                f"Row {number} of {str(metadata)!r} names {str(path)!r}, outside the audiofolder {str(root)!r}: "
                "`file_name` must be a path inside the folder."
            )
        if not path.is_file():
            raise FileNotFoundError(f"{str(metadata)!r} lists {str(path)!r}, which does not exist.")
        paths.append(str(path))
        names.update(dict.fromkeys(row))
    columns = {AUDIO: paths, **{name: [row.get(name) for row in rows] for name in names}}
    return datasets.Dataset.from_dict(columns).cast_column(AUDIO, datasets.Audio(decode=False))


def _log_conversions(dataset: datasets.DatasetDict, sampling_rate: int) -> None:
    """Say once, from the first clip, when audio will be resampled or downmixed (every clip is treated alike)."""
    first = next((part for part in dataset.values() if len(part)), None)
    if first is None:
        return
    with _open(first[0][AUDIO]) as file:
        if file.samplerate != sampling_rate:
            logger.warning(f"Audio is sampled at {file.samplerate} Hz: resampling to {sampling_rate} Hz.")
        if file.channels > 1:
            logger.warning(f"Audio has {file.channels} channels: downmixing to mono (channel mean).")


def _open(value: dict) -> sf.SoundFile:
    if value.get("bytes") is not None:
        return sf.SoundFile(io.BytesIO(value["bytes"]))
    if value.get("path") is not None:
        return sf.SoundFile(value["path"])
    raise ValueError(f"An audio value needs `bytes` or `path`, got keys {sorted(value)}.")


def add_audio_lengths(dataset: datasets.Dataset) -> datasets.Dataset:
    """Add `input_length`, each clip's duration in seconds read from its header, so that
    `train_sampling_strategy="group_by_length"` batches clips of similar length (less padding, less compute)."""
    lengths = []
    for value in dataset.select_columns([AUDIO])[AUDIO]:
        with _open(value) as file:
            lengths.append(file.frames / file.samplerate)
    return dataset.add_column(LENGTH, lengths)


def add_labels(
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_target_positions: int,
    filter_long: bool = False,
    normalize: bool = True,
    split: str = "train",
) -> datasets.Dataset:
    """Add `labels` (token ids + end of text 0) from the `text` column, normalised first when `normalize`.

    A transcript whose labels exceed `max_target_positions` raises a `ValueError` naming it, or, with
    `filter_long=True`, is dropped with a log line counting the dropped examples.
    """
    texts = [normalize_text(text) if normalize else text for text in dataset[TEXT]]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    labels = [row + [tokenizer.eos_token_id] for row in ids]
    too_long = [index for index, row in enumerate(labels) if len(row) > max_target_positions]
    if too_long and not filter_long:
        first = too_long[0]
        raise ValueError(
            f"Example {first} of split {split!r} has {len(labels[first])} label tokens, more than the model's "
            f"max_target_positions={max_target_positions} ({len(too_long)} such examples): {texts[first]!r}. "
            "Set `filter_long: true` in the config to drop them, or raise max_target_positions."
        )
    dataset = dataset.remove_columns(TEXT).add_column(TEXT, texts).add_column(LABELS, labels)
    if too_long:
        logger.warning(
            f"filter_long: dropped {len(too_long)} of {len(labels)} examples of split {split!r} whose labels exceed "
            f"max_target_positions={max_target_positions}."
        )
        dropped = set(too_long)
        dataset = dataset.select([index for index in range(len(labels)) if index not in dropped])
    return dataset


__all__ = ["add_audio_lengths", "add_labels", "load_audiofolder", "load_speech_dataset"]
