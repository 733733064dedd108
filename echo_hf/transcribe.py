"""echo-transcribe: transcribe audio files (or folders of them) with a saved Echo model.

    echo-transcribe runs/tiny speech.wav talks/ --format srt --chunk-length-s 20 --batch-size 4
    echo-transcribe runs/tiny-onnx speech.wav --backend onnx --onnx-variant int8

Audio longer than the model takes at once is cut at its pauses (the pipeline's `segment_at_pauses=True`), unless
`--chunk-length-s` asks for overlapping chunks instead. A file that cannot be read is reported and skipped; the exit
status is then 1.
"""

import argparse
import json
import sys
from pathlib import Path

import soundfile as sf
from tqdm.auto import tqdm
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

from .audio_loading import load_audio_file
from .hub import load_model_folder
from .voice_activity_echo import check_vad, silero_model_path

FORMATS = ("text", "json", "srt", "vtt")
# Extensions read from folders: what libsndfile decodes, plus common ones ffmpeg handles.
AUDIO_EXTENSIONS = {f".{name.lower()}" for name in sf.available_formats()} | {".mp3", ".m4a", ".opus", ".wma", ".aac"}


def find_audio(paths: list[str]) -> list[Path]:
    """The files named, and the audio files under the folders named (sorted); a missing path is an error."""
    found = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"No such audio file or folder: {name!r}.")
    return found


def build_pipeline(model_name: str, device: str | None, backend: str = "pytorch", onnx_variant: str = "fp32"):
    """Echo's ASR pipeline for a saved folder or a Hub id; with `backend="onnx"`, for a folder written by
    ``python -m echo_hf.onnx.export_echo``, run by ONNX Runtime."""
    if backend == "onnx":
        from .onnx import EchoOnnxForConditionalGeneration
        from .processing_echo import EchoProcessor

        model = EchoOnnxForConditionalGeneration.from_pretrained(model_name, variant=onnx_variant)
        processor = EchoProcessor.from_pretrained(model_name)
    elif Path(model_name).is_dir():
        model, processor = load_model_folder(model_name)
    else:
        model = AutoModelForSpeechSeq2Seq.from_pretrained(model_name)
        processor = AutoProcessor.from_pretrained(model_name)
    return pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=processor.tokenizer,
        feature_extractor=processor.feature_extractor,
        device=device,
    )


def transcribe_file(
    asr,
    path: Path,
    chunk_length_s: float | None,
    batch_size: int,
    generate_kwargs: dict,
    stride_length_s: float | None = None,
    word_timestamps: bool = False,
    vad_threshold: float | None = None,
) -> dict:
    """{"file", "text", "chunks": [{"text", "timestamp": (start, end)}]} for one file: a chunk per transcribed piece
    of audio (a pause-separated segment of a long file), or per word with `word_timestamps`; with `vad_threshold`,
    a piece in which voice activity detection hears no speech is left empty."""
    audio = load_audio_file(path, asr.feature_extractor.sampling_rate)
    segment = not chunk_length_s and audio.shape[0] > asr.max_samples()
    result = asr(
        audio,
        **({"segment_at_pauses": True} if segment else {"chunk_length_s": chunk_length_s or 0}),
        stride_length_s=stride_length_s,
        batch_size=batch_size,
        return_timestamps="word" if word_timestamps else True,
        generate_kwargs=generate_kwargs,
        **({"vad_threshold": vad_threshold} if vad_threshold is not None else {}),
    )
    return {"file": str(path), "text": result["text"], "chunks": result["chunks"]}


def srt_time(seconds: float, separator: str = ",") -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def timed_cues(result: dict) -> list[dict]:
    """The chunks that have words and times (a word the alignment could not place has none)."""
    return [chunk for chunk in result["chunks"] if chunk["text"] and chunk["timestamp"][0] is not None]


def to_vtt(results: list[dict]) -> str:
    """One WebVTT document: a cue per chunk (or word) that has words, files one after another."""
    cues = [
        f"{srt_time(chunk['timestamp'][0], '.')} --> {srt_time(chunk['timestamp'][1], '.')}\n{chunk['text']}\n\n"
        for result in results
        for chunk in timed_cues(result)
    ]
    return "WEBVTT\n\n" + "".join(cues)


def to_srt(result: dict) -> str:
    """SubRip cues, one per chunk that has words."""
    cues = timed_cues(result)
    return "".join(
        f"{index}\n{srt_time(chunk['timestamp'][0])} --> {srt_time(chunk['timestamp'][1])}\n{chunk['text']}\n\n"
        for index, chunk in enumerate(cues, start=1)
    )


def render(results: list[dict], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(results, indent=2) + "\n"
    if output_format == "srt":
        return "".join(to_srt(result) for result in results)
    if output_format == "vtt":
        return to_vtt(results)
    if len(results) == 1:
        return results[0]["text"] + "\n"
    return "".join(f"{result['file']}\t{result['text']}\n" for result in results)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="echo-transcribe", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved Echo folder (model + processor) or a Hub model id")
    parser.add_argument("audio", nargs="+", help="audio files, or folders searched recursively for audio files")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument(
        "--chunk-length-s",
        type=float,
        default=None,
        help="transcribe in overlapping chunks of this many seconds (default: long audio is cut at its pauses)",
    )
    parser.add_argument(
        "--stride-length-s", type=float, default=None, help="audio shared by neighbouring chunks, each side"
    )
    parser.add_argument("--batch-size", type=int, default=1, help="chunks transcribed at once")
    parser.add_argument(
        "--word-timestamps",
        action="store_true",
        help="a timestamp per word (json, srt, vtt), from the model's CTC head or else its cross-attention",
    )
    parser.add_argument("--num-beams", type=int, default=None, help="beam search width (default: the model's)")
    parser.add_argument(
        "--ctc-weight",
        type=float,
        default=None,
        help="joint CTC/attention decoding with this weight of the CTC head's prefix scores, in (0, 1]",
    )
    parser.add_argument(
        "--no-speech-threshold",
        type=float,
        default=None,
        help="leave a piece empty when its mean CTC blank probability is above this (e.g. 0.8)",
    )
    parser.add_argument(
        "--vad-threshold",
        type=float,
        default=None,
        help="leave a piece empty when voice activity detection (Silero, the vad extra) hears no speech in it at "
        "this probability (e.g. 0.4)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="most tokens per chunk")
    parser.add_argument("--device", default=None, help='where the model runs, e.g. "cpu", "cuda", "cuda:1", "mps"')
    parser.add_argument(
        "--backend",
        choices=("pytorch", "onnx"),
        default="pytorch",
        help="onnx: MODEL is a folder exported by `python -m echo_hf.onnx.export_echo`, run by ONNX Runtime (greedy)",
    )
    parser.add_argument("--onnx-variant", choices=("fp32", "int8"), default="fp32", help="which exported graphs to run")
    parser.add_argument("--output-dir", type=Path, default=None, help="write one FILE.<format> per input here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        files = find_audio(args.audio)
        if args.vad_threshold is not None:
            check_vad(args.vad_threshold, None)
            silero_model_path()  # the vad extra is installed
        ctc_options = (args.ctc_weight, args.no_speech_threshold)
        if args.backend == "onnx" and ((args.num_beams or 1) > 1 or any(v is not None for v in ctc_options)):
            raise ValueError(
                "the ONNX backend decodes greedily with the decoder alone: drop --num-beams, --ctc-weight and "
                "--no-speech-threshold, or use --backend pytorch."
            )
        asr = build_pipeline(args.model, args.device, args.backend, args.onnx_variant)
    except (FileNotFoundError, ValueError, OSError, ImportError) as error:
        print(f"echo-transcribe: error: {error}", file=sys.stderr)
        return 2
    options = {
        "num_beams": args.num_beams,
        "max_new_tokens": args.max_new_tokens,
        "ctc_weight": args.ctc_weight,
        "no_speech_threshold": args.no_speech_threshold,
    }
    generate_kwargs = {key: value for key, value in options.items() if value is not None}
    results, failed = [], 0
    for path in tqdm(files, desc="transcribing", unit="file", file=sys.stderr):
        try:
            result = transcribe_file(
                asr,
                path,
                args.chunk_length_s,
                args.batch_size,
                generate_kwargs,
                args.stride_length_s,
                args.word_timestamps,
                args.vad_threshold,
            )
        except (FileNotFoundError, ValueError) as error:
            print(f"echo-transcribe: skipping {str(path)!r}: {error}", file=sys.stderr)
            failed += 1
            continue
        if args.output_dir is not None:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            (args.output_dir / f"{path.stem}.{args.format}").write_text(render([result], args.format))
        results.append(result)
    if args.output_dir is None:
        sys.stdout.write(render(results, args.format))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
