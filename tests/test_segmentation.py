"""Long recordings cut at their pauses: where the cuts fall, that every piece fits the model, and the pipeline's
`segment_at_pauses` against transcribing each piece alone."""

import numpy as np
import pytest
from trained_echo import RATE, SLOT_S, clips, recording, trained_echo, with_ctc_head
from transformers import pipeline

from echo_hf.segmentation_echo import frame_levels, pause_segments, snap_to_sound

TASK = "automatic-speech-recognition"


def tones(spans_s: list[tuple[float, float]], total_s: float, noise: float = 0.0) -> np.ndarray:
    """A 220 Hz tone in each (start, end) second span, optional white noise everywhere."""
    rng = np.random.default_rng(0)
    audio = rng.normal(0, noise, round(total_s * RATE)).astype(np.float32)
    for start, end in spans_s:
        t = np.arange(round(start * RATE), round(end * RATE))
        audio[t] += 0.3 * np.sin(2 * np.pi * 220 * t / RATE).astype(np.float32)
    return audio


@pytest.mark.parametrize("noise", [0.0, 0.003])  # exact zeros between, and a noise floor 37 dB below the tone
def test_segments_are_the_sounds_between_pauses(noise):
    spans = [(0.5, 1.7), (2.3, 2.9), (3.05, 3.6), (4.4, 5.0)]  # the 0.15 s gap is shorter than a pause
    segments = pause_segments(tones(spans, 5.5, noise), RATE, max_samples=RATE * 10)
    found = [(s.start / RATE, s.end / RATE) for s in segments]
    expected = [(0.5, 1.7), (2.3, 3.6), (4.4, 5.0)]
    assert len(found) == len(expected)
    for (start, end), (true_start, true_end) in zip(found, expected, strict=True):
        assert abs(start - true_start) <= 0.01 and abs(end - true_end) <= 0.01
    for segment in segments:  # 0.1 s of context either side, within the audio
        assert segment.cut_start == max(0, segment.start - RATE // 10)
        assert segment.cut_end == min(round(5.5 * RATE), segment.end + RATE // 10)


def test_sound_without_pauses_is_cut_into_pieces_that_fit_at_its_quietest_frames():
    audio = tones([(0.0, 9.0)], 9.0)
    audio[round(3.1 * RATE) : round(3.12 * RATE)] *= 0.01  # a dip where the cut should go
    limit = 4 * RATE
    segments = pause_segments(audio, RATE, max_samples=limit)
    assert all(s.cut_end - s.cut_start <= limit for s in segments)
    assert segments[0].end == segments[1].start  # the pieces tile the sound
    assert all(a.cut_end <= b.cut_start for a, b in zip(segments, segments[1:], strict=False))  # no shared audio
    assert abs(segments[0].end / RATE - 3.1) <= 0.02
    assert segments[0].start == 0 and segments[-1].end == len(audio)


def test_context_around_segments_stops_halfway_to_the_next():
    """A 0.15 s pause is a pause when `min_pause_s=0.1`; 0.1 s of context each side would overlap there."""
    segments = pause_segments(tones([(0.5, 1.0), (1.15, 1.6)], 2.0), RATE, max_samples=RATE * 10, min_pause_s=0.1)
    assert len(segments) == 2
    assert segments[0].cut_end == segments[1].cut_start == (segments[0].end + segments[1].start) // 2


def test_digital_silence_has_no_segments_and_bad_settings_raise():
    assert pause_segments(np.zeros(RATE, dtype=np.float32), RATE, max_samples=RATE) == []
    audio = tones([(0.1, 0.5)], 1.0)
    for setting, message in (
        ({"min_pause_s": 0}, "min_pause_s"),
        ({"threshold_db": 3}, "pause_threshold_db"),
        ({"padding_s": -0.1}, "padding_s"),
        ({"frame_s": 0.5}, "frame_s"),
    ):
        with pytest.raises(ValueError, match=message):
            pause_segments(audio, RATE, max_samples=RATE, **setting)


def test_word_edges_snap_to_the_sound_around_them():
    """Two tones (0.50-0.90 s and 0.90-1.30 s, touching) and a third after a gap (1.60-2.00 s), with edges as an
    alignment gives them: ends early inside the sound, a start early in the quiet, a start late inside the sound."""
    audio = tones([(0.5, 0.9), (0.9, 1.3), (1.6, 2.0)], 2.5)
    words = [
        {"text": "one", "timestamp": (0.52, 0.6)},  # start inside sound, end early
        {"text": "two", "timestamp": (0.9, 1.0)},  # the next word touches: its start stays at the join
        {"text": "three", "timestamp": (1.5, 1.7)},  # start in the quiet before the sound
        {"text": "four", "timestamp": (None, None)},  # untimed stays untimed
        {"text": "five", "timestamp": (2.1, 2.3)},  # wholly in quiet: nothing to snap to, left as it is
    ]
    snapped = snap_to_sound(words, frame_levels(audio, 160), 0.01)
    assert [word["text"] for word in snapped] == ["one", "two", "three", "four", "five"]
    assert snapped[0]["timestamp"] == pytest.approx((0.5, 0.9), abs=0.011)  # back to the sound's start, on to "two"
    assert snapped[1]["timestamp"] == pytest.approx((0.9, 1.3), abs=0.011)
    assert snapped[2]["timestamp"] == pytest.approx((1.6, 2.0), abs=0.011)
    assert snapped[3]["timestamp"] == (None, None)
    assert snapped[4]["timestamp"] == pytest.approx((2.1, 2.3))
    assert words[0]["timestamp"] == (0.52, 0.6)  # the input is not changed


@pytest.fixture(scope="module")
def asr():
    model, processor = trained_echo()
    return pipeline(
        TASK, model=with_ctc_head(model), tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor
    )


def test_segment_at_pauses_transcribes_each_pause_separated_clip_as_alone_with_its_span(asr):
    order = [0, 1, 2, 3, 2]
    audio, _ = recording(order)
    result = asr(audio, segment_at_pauses=True, return_timestamps=True, batch_size=2)
    segments = pause_segments(audio, RATE, asr.max_samples())
    alone = [asr(audio[s.cut_start : s.cut_end])["text"] for s in segments]
    assert [chunk["text"] for chunk in result["chunks"]] == alone
    assert result["text"] == " ".join(text for text in alone if text)
    # one segment per clip, spanning the clip's sound within its slot
    sounds, _ = clips()
    assert len(result["chunks"]) == len(order)
    for slot, (clip, chunk) in enumerate(zip(order, result["chunks"], strict=True)):
        loud = np.flatnonzero(np.abs(sounds[clip]) > 1e-3)
        start, end = slot * SLOT_S + loud[0] / RATE, slot * SLOT_S + loud[-1] / RATE
        assert abs(chunk["timestamp"][0] - start) <= 0.1 and abs(chunk["timestamp"][1] - end) <= 0.1


def test_max_segment_s_cuts_long_speech_into_pieces_no_longer(asr):
    audio, _ = recording([0, 1])
    result = asr(audio, segment_at_pauses=True, max_segment_s=0.8, return_timestamps=True)
    expected = pause_segments(audio, RATE, round(0.8 * RATE))
    assert [chunk["timestamp"] for chunk in result["chunks"]] == [
        (round(s.start / RATE, 3), round(s.end / RATE, 3)) for s in expected
    ]
    assert len(expected) > 2 and all(s.cut_end - s.cut_start <= 0.8 * RATE for s in expected)
    limit = asr.max_samples() / RATE
    for bad in (0, 0.05, limit + 1):
        with pytest.raises(ValueError, match="max_segment_s"):
            asr(audio, segment_at_pauses=True, max_segment_s=bad)
    with pytest.raises(ValueError, match="segment_at_pauses=True"):
        asr(audio, max_segment_s=1.0)


def test_settings_given_when_the_pipeline_was_built_hold_and_a_call_tunes_or_drops_them(asr):
    model, processor = trained_echo()
    built = pipeline(TASK, model=with_ctc_head(model), tokenizer=processor.tokenizer,
                     feature_extractor=processor.feature_extractor, segment_at_pauses=True)  # fmt: skip
    audio, _ = recording([0, 1])
    options = {"return_timestamps": True}
    assert built(audio, **options) == asr(audio, segment_at_pauses=True, **options)
    tuned = built(audio, max_segment_s=0.8, **options)
    assert tuned == asr(audio, segment_at_pauses=True, max_segment_s=0.8, **options)
    assert len(tuned["chunks"]) > 2
    short = audio[: round(2 * RATE)]
    assert built(short, segment_at_pauses=False, **options) == asr(short, **options)


def test_word_timestamps_of_segments_are_in_the_recordings_time(asr):
    audio, _ = recording([1, 2])
    result = asr(audio, segment_at_pauses=True, return_timestamps="word")
    second = pause_segments(audio, RATE, asr.max_samples())[1]
    alone = asr(audio[second.cut_start : second.cut_end], return_timestamps="word")["chunks"]
    offset = second.cut_start / RATE
    words = result["chunks"][-len(alone) :]
    assert [w["text"] for w in words] == [w["text"] for w in alone]
    for word, single in zip(words, alone, strict=True):
        assert word["timestamp"] == pytest.approx(tuple(t + offset for t in single["timestamp"]), abs=1e-3)


def test_a_batch_of_segmented_recordings_with_word_times_equals_them_one_by_one(asr):
    audio, _ = recording([1, 2])
    silence = np.zeros(RATE * 5, dtype=np.float32)  # no segments: one empty piece
    inputs = [silence, audio]
    options = {"segment_at_pauses": True, "return_timestamps": "word"}
    together = asr(inputs, batch_size=2, **options)
    assert together == [asr(x, **options) for x in inputs]
    assert together[0] == {"text": "", "chunks": []} and together[1]["chunks"]


def test_silence_throughout_gives_an_empty_transcript_and_conflicting_options_raise(asr):
    assert asr(np.zeros(RATE * 20, dtype=np.float32), segment_at_pauses=True)["text"] == ""
    audio, _ = recording([0])
    with pytest.raises(ValueError, match="not both"):
        asr(audio, segment_at_pauses=True, chunk_length_s=2.0)
    with pytest.raises(ValueError, match="segment_at_pauses=True"):
        asr(audio, min_pause_s=0.5)
    with pytest.raises(ValueError, match="min_pause_s"):
        asr(audio, segment_at_pauses=True, min_pause_s=-1)
    long_audio = np.tile(audio, 3)
    with pytest.raises(ValueError, match="segment_at_pauses=True"):
        asr(long_audio)
