"""Sharing a trained Echo on the Hugging Face Hub: one folder that works with `trust_remote_code=True` alone.

Any folder `save_pretrained` writes already is one (config.json names Echo's ASR pipeline in `custom_pipelines`
and the code files travel with it, see `EchoConfig`); sharing adds the model card (README.md) and uploads the folder
in a single commit through `HfApi.create_commit`.
"""

import shutil
import tempfile
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

from .model_card import write_model_card

CARD = "README.md"
# What a model folder must hold besides the weights for the pipeline to load it: one file of each group.
PROCESSOR_FILES = {
    "feature extractor": ("processor_config.json", "preprocessor_config.json"),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json"),
}


def load_model_folder(model_dir: str | Path):
    """The model and processor saved in `model_dir`, with a clear error when the processor files are missing."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{str(model_dir)!r} holds no config.json: pass the folder `save_pretrained` wrote.")
    for part, names in PROCESSOR_FILES.items():
        if not any((model_dir / name).is_file() for name in names):
            raise ValueError(
                f"{str(model_dir)!r} has no {part} ({' or '.join(names)}): the processor was not saved with the "
                "model. Save it with `processor.save_pretrained(model_dir)`."
            )
    return AutoModelForSpeechSeq2Seq.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)


def save_for_sharing(model, processor, output_dir: str | Path, model_id: str | None = None, card: str | None = None):
    """Write the shareable folder for `model` and `processor` to `output_dir` and return its path.

    `card` is the text of an existing model card (e.g. the one training wrote); without it a card is written from
    the model config. `model_id` (the Hub repo id) is what the card's usage snippet loads.
    """
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    if card is not None:
        (output_dir / CARD).write_text(card)
    else:
        write_model_card(output_dir, None, {}, {}, {}, model.config.to_diff_dict(), model_id=model_id)
    return output_dir


def push_to_hub(
    model_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None, commit_message: str = ""
) -> str:
    """Upload the model saved in `model_dir` to `repo_id` as one commit; returns the commit URL.

    The model card saved in `model_dir` (the training run's) is kept, its local path replaced by `repo_id`.
    """
    model_dir = Path(model_dir)
    model, processor = load_model_folder(model_dir)
    card = None
    if (model_dir / CARD).is_file():
        # The training card names the local folder (usage snippet, title); on the Hub it is the repository.
        card = (model_dir / CARD).read_text().replace(str(model_dir), repo_id)
        card = card.replace(f"\n# {model_dir.name}\n", f"\n# {repo_id.split('/')[-1]}\n", 1)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        folder = save_for_sharing(model, processor, Path(staging) / "model", model_id=repo_id, card=card)
        for extra in ("all_results.json", "training_config.json", "training_curves.png"):
            if (model_dir / extra).is_file():  # the training run's evidence travels with the card that cites it
                shutil.copy(model_dir / extra, folder / extra)
        # One commit of every file (what `upload_folder` sends, without its extra round trips).
        operations = [
            CommitOperationAdd(path_in_repo=path.relative_to(folder).as_posix(), path_or_fileobj=str(path))
            for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        ]
        commit = api.create_commit(repo_id, operations, commit_message=commit_message or f"Upload Echo model {repo_id}")
    return str(getattr(commit, "commit_url", commit))


__all__ = ["load_model_folder", "push_to_hub", "save_for_sharing"]
