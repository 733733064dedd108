"""Echo's tokenizer: byte-level BPE with a single special token, `<|endoftext|>`, at id 0.

Id 0 is pad, start, end of text and unknown at once, matching the model's zero-value convention.
"""

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"


def build_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts`, with `<|endoftext|>` at id 0 as pad/bos/eos/unk.

    The vocabulary always holds the special token and the 256 byte symbols, so any text encodes and
    decodes back exactly. On a small corpus BPE may run out of pairs seen `min_frequency` times before
    reaching `vocab_size`: the result is then smaller, and the model config's `vocab_size` must be set
    to `len(tokenizer)` (see `check_tokenizer_matches`).
    """
    tokenizer = Tokenizer(models.BPE())
    # No prefix space: decoding must give back the exact text, without a leading space.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[END_OF_TEXT],  # first in the list, so it gets id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
    )


def check_tokenizer_matches(tokenizer: PreTrainedTokenizerFast, vocab_size: int, pad_token_id: int = 0) -> None:
    """Raise `ValueError` if `tokenizer` disagrees with a model config's `vocab_size` / `pad_token_id`."""
    if len(tokenizer) != vocab_size:
        raise ValueError(
            f"The tokenizer has {len(tokenizer)} tokens but the model config has vocab_size={vocab_size}: "
            f"set the config's vocab_size to {len(tokenizer)} (len(tokenizer)) or use the matching tokenizer."
        )
    for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
        token_id = getattr(tokenizer, name)
        if token_id != pad_token_id:
            raise ValueError(
                f"The tokenizer's {name} is {token_id} but the model config's pad_token_id is "
                f"{pad_token_id}: Echo uses one id for pad, start and end of text; "
                "build the tokenizer with `build_tokenizer`."
            )


__all__ = ["END_OF_TEXT", "build_tokenizer", "check_tokenizer_matches"]
