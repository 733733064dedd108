"""Train Echo's byte-level BPE tokenizer on a text file (one transcript per line) and save it.

Usage (after `pip install -e .`, or with the repo on PYTHONPATH):
    python scripts/build_tokenizer.py TEXT_FILE OUT_DIR --vocab-size N [--min-frequency 2]
"""

import argparse
from pathlib import Path

from echo_hf.training.tokenization_echo import build_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text_file", type=Path, help="UTF-8 text, one transcript per line")
    parser.add_argument("out_dir", type=Path, help="directory for save_pretrained")
    parser.add_argument("--vocab-size", type=int, required=True, help="target vocabulary size")
    parser.add_argument("--min-frequency", type=int, default=2, help="least count for a merge")
    args = parser.parse_args()

    with args.text_file.open(encoding="utf-8") as lines:
        texts = [line.rstrip("\n") for line in lines if line.strip()]
    tokenizer = build_tokenizer(texts, args.vocab_size, args.min_frequency)
    tokenizer.save_pretrained(args.out_dir)
    print(f"saved {len(tokenizer)} tokens (asked for {args.vocab_size}) to {args.out_dir}")
    if len(tokenizer) != args.vocab_size:
        print(f"set the model config's vocab_size to {len(tokenizer)}")


if __name__ == "__main__":
    main()
