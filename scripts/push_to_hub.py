"""Upload a saved Echo model (weights, processor, tokenizer, remote code, model card) to the Hugging Face Hub.

    python scripts/push_to_hub.py runs/tiny your-name/echo-tiny [--private]

The logic is `echo_hf.hub.push_to_hub`; log in first with `hf auth login` (or set HF_TOKEN).
"""

import argparse

from echo_hf.hub import push_to_hub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", help="folder holding the model and its processor (what training saved)")
    parser.add_argument("repo_id", help="Hub repository, e.g. your-name/echo-tiny")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--commit-message", default="", help="commit message of the upload")
    args = parser.parse_args()
    print(push_to_hub(args.model_dir, args.repo_id, private=args.private, commit_message=args.commit_message))


if __name__ == "__main__":
    main()
