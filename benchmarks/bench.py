"""Benchmark Echo against matched-size Whisper; writes benchmarks/results_<device>.md, .json and a PNG plot.

python benchmarks/bench.py            # full run (CUDA when present, else CPU); ~30 min on 2 CPU cores
python benchmarks/bench.py --quick    # small batches and few repeats, a few minutes
"""

import argparse
from pathlib import Path

import torch
from harness import BenchSettings, markdown_report, run_all, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: small batches, few repeats")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", default="configs/seed.json", help="Echo preset to compare")
    parser.add_argument("--out", type=Path, default=Path("benchmarks"), help="where results are written")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's); 1 is steadier on cores shared with others"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    overrides = dict(echo_config=args.config, device=args.device, measure_memory=not args.no_memory)
    settings = BenchSettings.quick(**overrides) if args.quick else BenchSettings(**overrides)
    results = run_all(settings)
    print(markdown_report(results))
    for path in write_results(results, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
