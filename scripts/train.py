"""Train Echo from a JSON config: `python scripts/train.py configs/train_tiny.json [--resume_from_checkpoint [DIR]]`."""

import sys

from echo_hf.training.train import main

if __name__ == "__main__":
    main(sys.argv[1:])
