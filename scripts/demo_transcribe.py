"""The last step of `make demo`: a few test clips through `pipeline("automatic-speech-recognition")`.

`python scripts/demo_transcribe.py MODEL DATA [--split test] [--num 8]` prints each clip's reference and the
pipeline's hypothesis side by side, with the clip's WER after the project's text normaliser.
"""

import argparse

import jiwer
from transformers import pipeline

import echo_hf  # noqa: F401  (registers Echo's pipeline and Auto classes)
from echo_hf.audio_loading import decode_audio
from echo_hf.training.speech_datasets import AUDIO, TEXT, load_speech_dataset
from echo_hf.training.text_normalization import normalize_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved Echo model folder (model + processor)")
    parser.add_argument("data", help="a save_to_disk folder, an audiofolder or a Hub dataset id")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num", type=int, default=8, help="how many clips, spread evenly over the split")
    args = parser.parse_args()

    split = load_speech_dataset(args.data)[args.split]
    step = max(1, len(split) // args.num)
    clips = split.select(range(0, min(len(split), step * args.num), step))
    asr = pipeline("automatic-speech-recognition", model=args.model)
    rate = asr.feature_extractor.sampling_rate
    audio = [{"raw": decode_audio(clip[AUDIO], rate), "sampling_rate": rate} for clip in clips]
    width = 60
    print(f"{'reference':<{width}} | {'hypothesis':<{width}} | WER")
    for clip, output in zip(clips, asr(audio, batch_size=len(audio)), strict=True):
        reference, hypothesis = normalize_text(clip[TEXT]), normalize_text(output["text"])
        wer = jiwer.wer(reference, hypothesis) if reference else float(bool(hypothesis))
        print(f"{reference[:width]:<{width}} | {hypothesis[:width]:<{width}} | {wer:.2f}")


if __name__ == "__main__":
    main()
