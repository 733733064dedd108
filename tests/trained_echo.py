"""A tiny Echo that knows the four test clips, trained once per test session, and long recordings made of them.

Each clip sits in a slot of `SLOT_S` seconds that starts with 0.2 s of exact zeros. Chunks of `CHUNK_S` with strides
of `STRIDE_S` step by exactly one slot, so every chunk is one slot plus the first `2 * STRIDE_S` of the next one's
leading zeros: chunk joins fall in silence, and the audio two chunks share is digital silence.
"""

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import transformers

import echo_hf
from echo_hf import EchoConfig, EchoFeatureExtractor, EchoForConditionalGeneration, EchoProcessor, build_tokenizer

SPEECH = Path(__file__).parent / "assets" / "speech"
RATE = 16000
SLOT_S = 2.2
STRIDE_S = 0.06
CHUNK_S = SLOT_S + 2 * STRIDE_S
TRAIN_STEPS = 180  # greedy decoding gives all four transcripts from about 140


def clips() -> tuple[list[np.ndarray], list[str]]:
    """The four clips, each padded with zeros to one chunk (`CHUNK_S`), and their transcripts."""
    transcripts = json.loads((SPEECH / "transcripts.json").read_text())
    audio = []
    for name in transcripts:
        clip = sf.read(SPEECH / name, dtype="float32")[0]
        audio.append(np.pad(clip, (0, round(CHUNK_S * RATE) - len(clip))))
    return audio, list(transcripts.values())


def recording(order: list[int]) -> tuple[np.ndarray, str]:
    """The clips in `order`, one per slot, and the transcript the pipeline should give."""
    audio, texts = clips()
    slot = round(SLOT_S * RATE)
    tail = np.zeros(round(2 * STRIDE_S * RATE), dtype=np.float32)  # the last chunk is a full one too
    return np.concatenate([audio[i][:slot] for i in order] + [tail]), " ".join(texts[i] for i in order)


def _cache_dir() -> Path:
    """Where the trained weights are kept between sessions, named by everything that shapes them: the torch and
    transformers versions, this file, the speech assets and every Python file of `echo_hf` (by path and content)."""
    package = Path(echo_hf.__file__).parent
    tests = Path(__file__).parent
    sources = [
        *((path.relative_to(tests), path) for path in [Path(__file__), *sorted(SPEECH.iterdir())]),
        *((path.relative_to(package.parent), path) for path in sorted(package.rglob("*.py"))),
    ]
    digest = hashlib.sha256(f"torch {torch.__version__} transformers {transformers.__version__}".encode())
    for name, path in sources:  # names too: moving code between files changes the key
        digest.update(f"\0{name.as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return Path(__file__).parents[1] / ".pytest_cache" / "trained_echo" / digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def trained_echo() -> tuple[EchoForConditionalGeneration, EchoProcessor]:
    """A tiny Echo that knows the four clips, each padded to one chunk: trained once, then loaded from the cache.

    Training takes 5 s to 4 min on two shared cores; the weights are kept in .pytest_cache, keyed by a hash of the
    code and data that shape them, so later sessions load them.
    """
    cache = _cache_dir()
    if (cache / "model.safetensors").is_file():
        return EchoForConditionalGeneration.from_pretrained(cache).eval(), EchoProcessor.from_pretrained(cache)
    model, processor = _train()
    model.save_pretrained(cache)
    processor.save_pretrained(cache)
    return model, processor


def overfit(audio: list, texts: list[str], steps: int) -> tuple[EchoForConditionalGeneration, EchoProcessor, float]:
    """The tiny recipe the tests share: a 300-token BPE and a 64-wide Echo trained with AdamW on one batch."""
    processor = EchoProcessor(EchoFeatureExtractor(), build_tokenizer(texts, vocab_size=300, min_frequency=1))
    batch = processor(audio=audio, text=texts, sampling_rate=RATE, return_tensors="pt")
    torch.manual_seed(0)
    config = EchoConfig(
        vocab_size=len(processor.tokenizer),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=150,
        max_target_positions=32,
        waveform_conv_channels=[16, 32, 64, 64],
        squeeze_excitation_reduction=4,
        dropout=0.0,
    )
    model = EchoForConditionalGeneration(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), processor, loss.item()


def _train() -> tuple[EchoForConditionalGeneration, EchoProcessor]:
    model, processor, _ = overfit(*clips(), TRAIN_STEPS)
    return model, processor


@lru_cache(maxsize=1)
def exported_echo() -> Path:
    """`trained_echo()` exported to ONNX (fp32 and int8 graphs, `echo_hf.onnx.export_echo`), kept in .pytest_cache
    beside its weights: the export takes 1-3 min on two shared cores."""
    import onnxruntime
    import onnxscript

    from echo_hf.onnx import export_echo

    trained_echo()
    folder = _cache_dir() / f"onnx-{onnxscript.__version__}-{onnxruntime.__version__}"
    if not (folder / "onnx_config.json").is_file():
        export_echo(_cache_dir(), folder)
    return folder


def with_ctc_head(model: EchoForConditionalGeneration) -> EchoForConditionalGeneration:
    """`model` with an untrained CTC head added: the same transcripts, and alignments for word timestamps."""
    torch.manual_seed(0)
    config = EchoConfig.from_dict(model.config.to_dict() | {"ctc_loss_weight": 0.3})
    adapted = EchoForConditionalGeneration(config).eval()
    missing, unexpected = adapted.load_state_dict(model.state_dict(), strict=False)
    assert {name.split(".")[0] for name in missing} == {"ctc_head"} and not unexpected
    return adapted


@lru_cache(maxsize=1)
def with_trained_ctc_head() -> EchoForConditionalGeneration:
    """`trained_echo()` with a CTC head fitted to the four clips on its frozen encoder: the same transcripts, and
    alignments that put each word where it is spoken (seconds on two cores)."""
    trained, processor = trained_echo()
    model = with_ctc_head(trained)
    audio, texts = clips()
    batch = processor(audio=audio, text=texts, sampling_rate=RATE, return_tensors="pt")
    views = {name: batch[name] for name in processor.feature_extractor.model_input_names}
    with torch.no_grad():
        encoded = model.get_encoder()(**views, return_dict=True)
    optimizer = torch.optim.Adam(model.ctc_head.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model.ctc_loss(encoded.last_hidden_state, encoded.lengths, batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
