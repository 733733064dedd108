"""Every datasets release from 3.6 on: a dataset saved by datasets 5 trains and evaluates under the installed one,
each form an audio cell takes (per release) decodes to the same clip everywhere, and audiofolders are read by
echo_hf itself, since datasets 4+'s own audiofolder loader needs torchcodec."""

import importlib.util
import json
import shutil
from pathlib import Path

import datasets
import librosa
import numpy as np
import pytest
import torch
from conftest import tiny_model
from speech_fixtures import SPEECH, StandInAudioDecoder, write_model_config, write_train_config
from transformers import pipeline

from echo_hf import EchoFeatureExtractor, EchoProcessor, build_tokenizer
from echo_hf.audio_loading import decode_audio, load_audio_file
from echo_hf.training.data_collator import EchoSpeechCollator
from echo_hf.training.evaluation import evaluate_model
from echo_hf.training.speech_datasets import load_audiofolder, load_speech_dataset
from echo_hf.training.train import main

DATASETS5 = Path(__file__).parent / "assets" / "speech_datasets5"  # scripts/make_test_assets.py datasets5
RATE = 16000
CLIP = SPEECH / "hello_world.wav"
DATASETS_MAJOR = int(datasets.__version__.split(".")[0])


@pytest.fixture(scope="module")
def asr():
    tokenizer = build_tokenizer(["hello world", "echo hears silence"], vocab_size=280, min_frequency=1)
    return pipeline(
        "automatic-speech-recognition",
        model=tiny_model(),
        tokenizer=tokenizer,
        feature_extractor=EchoFeatureExtractor(),
    )


def test_dataset_saved_by_datasets5_trains_and_evaluates(tmp_path):
    info = json.loads((DATASETS5 / "train" / "dataset_info.json").read_text())
    assert "saved by datasets 5." in info["description"]
    data = tmp_path / "data"
    shutil.copytree(DATASETS5, data)  # datasets may write cache files beside a dataset: keep the asset clean
    model = write_model_config(tmp_path / "model.json")
    output = tmp_path / "run"
    config = write_train_config(tmp_path / "train.json", model, data, output, training_args={"max_steps": 2})
    main([str(config)])
    results = json.loads((output / "all_results.json").read_text())
    assert results["global_step"] == 2
    assert all(isinstance(results[key], float) for key in ("train_loss", "eval_wer", "test_wer", "test_cer"))
    report = evaluate_model(str(output), str(data), split="test", batch_size=2)
    assert report["wer"] == pytest.approx(results["test_wer"])
    assert [example["reference"] for example in report["examples"]] == ["hello world", "echo hears silence"]


def cell_forms() -> dict:
    """hello_world.wav as each kind of datasets audio cell, and each form of the torchcodec decoder's samples."""
    clip = torch.from_numpy(load_audio_file(CLIP, RATE))
    return {
        "decode=False bytes": {"bytes": CLIP.read_bytes(), "path": CLIP.name},
        "decode=False path": {"bytes": None, "path": str(CLIP)},
        "datasets 3 decoded": {"path": str(CLIP), "array": clip.numpy(), "sampling_rate": RATE},
        "datasets 4+ decoder, mono": StandInAudioDecoder(clip[None, :], RATE),
        "datasets 4+ decoder, stereo": StandInAudioDecoder(torch.stack([clip * 0.5, clip * 1.5]), RATE),
    }


def test_every_audio_cell_form_gives_the_same_clip_to_the_collator_and_the_pipeline(asr):
    expected = load_audio_file(CLIP, RATE)
    collator = EchoSpeechCollator(EchoProcessor(asr.feature_extractor, asr.tokenizer))
    for form, cell in cell_forms().items():
        np.testing.assert_allclose(decode_audio(cell, RATE), expected, atol=1e-7, err_msg=form)
        waveform = collator([{"audio": cell}])["waveform"][0].numpy()
        np.testing.assert_allclose(waveform, expected, atol=1e-7, err_msg=f"{form} via the collator")
        (model_inputs,) = asr.preprocess(cell)
        np.testing.assert_allclose(model_inputs["waveform"][0].numpy(), expected, atol=1e-7, err_msg=f"{form} (asr)")


def test_decoder_samples_are_channels_first_and_resampled():
    # torchcodec's data is (channels, samples) even when a clip has fewer samples than channels.
    short = torch.tensor([[0.25], [0.75]])
    np.testing.assert_array_equal(decode_audio(StandInAudioDecoder(short, RATE), RATE), [0.5])
    at_8k = librosa.resample(load_audio_file(CLIP, RATE), orig_sr=RATE, target_sr=8000)
    resampled = decode_audio(StandInAudioDecoder(torch.from_numpy(at_8k)[None, :], 8000), RATE)
    np.testing.assert_array_equal(resampled, decode_audio({"array": at_8k, "sampling_rate": 8000}, RATE))
    assert abs(resampled.shape[0] - 2 * at_8k.shape[0]) <= 1


def test_the_installed_datasets_own_decoded_cell():
    if DATASETS_MAJOR >= 4 and importlib.util.find_spec("torchcodec") is None:
        pytest.skip(
            f"datasets {datasets.__version__} decodes audio only through torchcodec, which is not installed (its "
            "wheels load only beside a CUDA build of torch); the stand-in decoder covers this form"
        )
    cell = datasets.load_from_disk(str(DATASETS5))["test"][0]["audio"]  # Audio(decode=True)
    np.testing.assert_allclose(decode_audio(cell, RATE), load_audio_file(CLIP, RATE), atol=1e-4)


def write_audiofolder(root: Path) -> Path:
    """train/ listed by metadata.jsonl (with an extra column), dev/ by metadata.csv naming a file in a subfolder."""
    (root / "train").mkdir(parents=True)
    (root / "dev" / "clips").mkdir(parents=True)
    shutil.copy(CLIP, root / "train" / "a.wav")
    shutil.copy(SPEECH / "echo_hears.wav", root / "train" / "b.wav")
    shutil.copy(CLIP, root / "dev" / "clips" / "c.wav")
    rows = [
        {"file_name": "a.wav", "text": "hello world", "speaker": 1},
        {"file_name": "b.wav", "text": "echo hears", "mood": "calm"},
    ]
    (root / "train" / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "dev" / "metadata.csv").write_text("file_name,text\nclips/c.wav,hello world\n")
    return root


def test_load_audiofolder_reads_splits_metadata_and_audio(tmp_path):
    root = write_audiofolder(tmp_path / "folder")
    loaded = load_audiofolder(root)
    assert set(loaded) == {"train", "validation"}  # dev/ is the validation split, as datasets names it
    assert loaded["train"].column_names == ["audio", "text", "speaker", "mood"]  # every row's columns
    assert list(loaded["train"]["speaker"]) == [1, None] and list(loaded["train"]["mood"]) == [None, "calm"]
    assert list(loaded["validation"]["text"]) == ["hello world"]
    assert loaded["train"].features["audio"] == datasets.Audio(decode=False)
    expected = load_audio_file(CLIP, RATE)
    for cell in (loaded["train"][0]["audio"], loaded["validation"][0]["audio"]):
        np.testing.assert_array_equal(decode_audio(cell, RATE), expected)
    speech = load_speech_dataset(str(root))
    assert speech["validation"].column_names == ["audio", "text"]
    # A metadata file at the top makes one split, "train".
    assert list(load_audiofolder(root / "train")) == ["train"]


def test_load_audiofolder_errors_say_what_to_write(tmp_path):
    with pytest.raises(ValueError, match=r"neither a `save_to_disk` folder nor an audiofolder.*`file_name` and `text`"):
        load_speech_dataset(str(tmp_path))
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"path": "a.wav", "text": "hi"}) + "\n")
    with pytest.raises(ValueError, match=r"Row 1 of .* has no `file_name`.*\['path', 'text'\]"):
        load_audiofolder(tmp_path)
    for outside in ("../secret.wav", "/etc/passwd"):
        (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": outside, "text": "hi"}) + "\n")
        with pytest.raises(ValueError, match="outside the audiofolder"):
            load_audiofolder(tmp_path)
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "a.wav", "audio": "x", "text": "hi"}) + "\n")
    with pytest.raises(ValueError, match="has a column 'audio'"):
        load_audiofolder(tmp_path)
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "a.wav", "text": "hi"}) + "\n")
    with pytest.raises(FileNotFoundError, match=r"lists '.*a\.wav', which does not exist"):
        load_audiofolder(tmp_path)


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        (None, r"from None \(a missing clip\?\).*datasets audio cell"),
        ({"bytes": None, "path": None}, r"keys \['bytes', 'path'\] \(bytes, path None\).*drop the example"),
        ({"sampling_rate": RATE}, r"needs `array`.*`bytes` or `path`.*\['sampling_rate'\]"),
        (3.5, r"from a float: '3\.5'.*file path.*Audio\(decode=False\).*AudioDecoder"),
    ],
)
def test_a_bad_cell_says_what_is_wrong_and_what_to_pass(cell, match, asr):
    with pytest.raises(ValueError, match=match):
        decode_audio(cell, RATE)
    if isinstance(cell, dict):
        with pytest.raises(ValueError, match=match):
            list(asr.preprocess(cell))  # a generator: the error comes with the first chunk
