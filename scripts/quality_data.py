"""What the transcript-quality scripts share: the model and its pipeline, clips of a corpus split or of voices held
out of training, WER/CER with the project's metric, and writing a report."""

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

import echo_hf  # noqa: F401  (registers Echo with the Auto classes)
from echo_hf.audio_loading import decode_audio
from echo_hf.corpus.held_out import HELD_OUT_VARIANTS, default_corpus_params, held_out_sentences
from echo_hf.corpus.speech import SAMPLE_RATE, synthesize
from echo_hf.training.metrics import load_echo_wer
from echo_hf.training.speech_datasets import AUDIO, TEXT, load_speech_dataset
from echo_hf.voice_activity_echo import SpeechDetector


def load_asr(model_path: str):
    """The model, its processor and Echo's ASR pipeline, on the CPU."""
    model = AutoModelForSpeechSeq2Seq.from_pretrained(model_path).eval()
    processor = AutoProcessor.from_pretrained(model_path)
    asr = pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
    )
    return model, processor, asr


def corpus_clips(corpus: str | Path, split: str, count: int) -> tuple[list[np.ndarray], list[str]]:
    """The first `count` clips of `split` of the bundled corpus (16 kHz float32) and their transcripts."""
    data = load_speech_dataset(str(corpus), sampling_rate=SAMPLE_RATE)[split]
    data = data.select(range(min(count, len(data))))
    return [decode_audio(cell, SAMPLE_RATE) for cell in data[AUDIO]], list(data[TEXT])


def held_out_clips(count: int, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """`count` sentences the corpus does not hold, spoken by espeak-ng variants it was not built with."""
    sentences = held_out_sentences({"quality": count}, default_corpus_params())["quality"]
    audio = []
    for index, sentence in enumerate(tqdm(sentences, desc="synthesising held-out voices", unit="clip")):
        voice = f"espeak:en-us+{HELD_OUT_VARIANTS[index % len(HELD_OUT_VARIANTS)]}"
        audio.append(synthesize(sentence.spoken, seed=[seed, index], voice=voice).audio)
    return audio, [sentence.text for sentence in sentences]


def word_error_rates(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """{"wer", "cer"} over all the pairs, with the text normalisation training reports use."""
    scores = load_echo_wer(keep_in_memory=True).compute(predictions=hypotheses, references=references)
    return {"wer": round(float(scores["wer"]), 4), "cer": round(float(scores["cer"]), 4)}


def transcribe(
    model, processor, audio: list, batch_size: int, vad: tuple[float, float] | None = None, **generate_options
) -> tuple[list[str], int]:
    """Transcripts of `audio` by batched `generate`, and how many reached the model's most tokens without ending.

    With `vad` = (threshold, min_speech_s), a clip in which voice activity detection hears less speech is "" without
    decoding, as the ASR pipeline's `vad_threshold` has it (`SpeechDetector.hears_speech`)."""
    extractor = processor.feature_extractor
    heard = list(range(len(audio)))
    if vad is not None:
        detector = SpeechDetector(extractor.sampling_rate)
        heard = [index for index, clip in enumerate(audio) if detector.hears_speech(clip, *vad)]
    texts, at_limit = [""] * len(audio), 0
    limit = model.config.max_target_positions
    description = str({**generate_options, **({"vad": vad} if vad else {})} or "greedy")
    for start in tqdm(range(0, len(heard), batch_size), desc=description, leave=False):
        indices = heard[start : start + batch_size]
        batch = extractor([audio[i] for i in indices], sampling_rate=extractor.sampling_rate, return_tensors="pt")
        with torch.inference_mode():
            tokens = model.generate(**batch, max_length=limit, **generate_options)
        ended = (tokens[:, 1:] == model.config.eos_token_id).any(-1)
        at_limit += int((~ended & (tokens.shape[1] >= limit)).sum())
        for index, text in zip(indices, processor.batch_decode(tokens, skip_special_tokens=True), strict=True):
            texts[index] = text
    return texts, at_limit


def save_report(out: Path, name: str, report: dict, lines: list[str]) -> None:
    """OUT/NAME.json (the numbers) and OUT/NAME.md (`lines`, which are also printed)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
