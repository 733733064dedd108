"""WER/CER of a saved Echo model: `python scripts/evaluate.py MODEL DATA [--split test] [--batch_size 16]`."""

import sys
from pathlib import Path

# Python puts this script's folder first on the path, and this file shares its name with the `evaluate` library
# that echo_hf imports: drop the folder so `import evaluate` finds the library, not this script.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

from echo_hf.training.evaluation import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
