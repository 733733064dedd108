# The README's commands. Each target installs what it needs, so it works on a fresh machine.
PYTHON ?= python3
CORPUS ?= data/echo-corpus
DEMO_OUT ?= runs/demo
# A second environment for the suite on the lowest releases pyproject.toml admits (it sees everything else installed).
LOWEST_ENV ?= .venv-lowest

.PHONY: install system-deps test test-lowest lint demo small ablation augmentation-ablation bench bench-inference

install:
	# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e ".[dev]"

system-deps:
	PYTHON=$(PYTHON) bash scripts/install_corpus_deps.sh

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

# The suite on the newest releases the declared ranges admit (what a fresh install gets), then on the lowest.
test: install system-deps lint
	$(PYTHON) -m pytest
	$(MAKE) --no-print-directory test-lowest

test-lowest:
	$(PYTHON) -m venv --system-site-packages $(LOWEST_ENV)
	$(LOWEST_ENV)/bin/python -m pip install --quiet $$($(PYTHON) scripts/lowest_requirements.py transformers accelerate datasets peft onnx onnxscript onnxruntime audiomentations pyroomacoustics silero-vad)
	$(LOWEST_ENV)/bin/python -m pytest

# The training run ends with WER/CER on the in-voice test split and the voice-held-out split (all_results.json, the
# model card); `scripts/evaluate_model.py MODEL DATA --split S` writes every transcript of a split.
demo: install system-deps
	$(PYTHON) -m echo_hf.corpus.build --out $(CORPUS)
	$(PYTHON) scripts/train.py configs/train_tiny.json
	$(PYTHON) scripts/demo_transcribe.py $(DEMO_OUT) $(CORPUS) --split test

# The larger CPU recipe: a 9.9 M-parameter Echo (configs/small.json), 10,000 steps, the checkpoint with the lowest
# validation loss kept; about 75 minutes of training on two cores.
small: install system-deps
	$(PYTHON) -m echo_hf.corpus.build --out $(CORPUS)
	$(PYTHON) scripts/train.py configs/train_small.json

# Each design choice against its alternative and a Whisper baseline: 7 rows x 2 seeds of the demo recipe cut to
# ABLATION_STEPS steps (three quarters of it: the model then transcribes, where shorter runs still loop), two runs
# at a time, scored on the whole test splits. A finished run is reused, so it can be stopped and started again.
ABLATION_STEPS ?= 3600
ablation: install system-deps
	$(PYTHON) -m echo_hf.corpus.build --out $(CORPUS)
	$(PYTHON) scripts/ablate.py --base configs/train_tiny.json --out results/ablation --steps $(ABLATION_STEPS) --jobs 2

# Each augmentation of the demo recipe turned off, or another one turned on, against the recipe itself (the `echo`
# and `no_augmentation` runs are shared with `make ablation` at the same steps).
AUGMENTATION_STEPS ?= $(ABLATION_STEPS)
AUGMENTATION_ROWS ?= echo no_augmentation spec_augment pitch band_limit reverb no_speed no_gain tempo noise
augmentation-ablation: install system-deps
	$(PYTHON) -m echo_hf.corpus.build --out $(CORPUS)
	$(PYTHON) scripts/ablate.py --base configs/train_tiny.json --out results/augmentation_ablation \
		--steps $(AUGMENTATION_STEPS) --jobs 2 --rows $(AUGMENTATION_ROWS)

bench: install
	# One thread, and glibc keeping freed memory for reuse rather than unmapping it: on a shared 2-core VM the
	# page faults of re-mapped large tensors made repeated steps of either model swing by up to 20%.
	MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 $(PYTHON) benchmarks/bench.py --threads 1

# CPU transcription speed: PyTorch eager vs ONNX Runtime fp32/int8 on the demo model and the seed preset, and
# faster-whisper as the anchor (needs `make demo` first: the demo model and the bundled corpus).
bench-inference: install
	$(PYTHON) -m pip install --quiet -e ".[bench]"
	MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 $(PYTHON) benchmarks/bench_cpu_inference.py --model $(DEMO_OUT) --corpus $(CORPUS) --threads 1
