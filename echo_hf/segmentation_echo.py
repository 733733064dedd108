"""Cutting a long recording at its pauses, so each piece is transcribed whole and no word is split at a seam.

Speech is found by energy: the waveform's RMS in frames of `frame_s`, against a threshold `threshold_db` below the
recording's loud frames (its 99th percentile, so a click does not set the level). Speech runs closer than
`min_pause_s` are one segment. Each segment is cut out with up to `padding_s` of the quiet audio around it (never past
halfway to its neighbour, so no two segments share audio), because the model was trained on clips that begin and end
in silence. A segment longer than the model takes (speech without
pauses) is cut at its quietest frame in the second half of what fits, and again, until every piece fits.

Energy needs no model, so nothing is downloaded; it is the cheap check the ASR pipeline's `segment_at_pauses` uses.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """Samples [start, end) of speech, and the samples [cut_start, cut_end) of audio that are transcribed for it."""

    start: int
    end: int
    cut_start: int
    cut_end: int


def frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    """Each whole or partial frame's RMS."""
    padded = np.pad(audio.astype(np.float64), (0, -len(audio) % frame))
    return np.sqrt(np.mean(padded.reshape(-1, frame) ** 2, axis=1))


def decibels(rms: np.ndarray) -> np.ndarray:
    """RMS values as dB (0 gives -inf)."""
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms)


def frame_levels(audio: np.ndarray, frame: int) -> np.ndarray:
    """Each whole or partial frame's RMS level in dB (digital silence gives -inf)."""
    return decibels(frame_rms(audio, frame))


# The defaults of `pause_segments` and `check_segmentation` (the pipeline checks its settings before any audio).
MIN_PAUSE_S, THRESHOLD_DB, PADDING_S, FRAME_S = 0.3, -35.0, 0.1, 0.01


def loud_frames(levels: np.ndarray, threshold_db: float) -> np.ndarray | None:
    """Which frames are within `threshold_db` of the loud ones (the 99th percentile of the audible frames' levels,
    so a click does not set it); None when no frame is audible (digital silence)."""
    audible = levels[np.isfinite(levels)]
    if audible.size == 0:
        return None
    return levels > np.percentile(audible, 99) + threshold_db


def check_segmentation(
    min_pause_s: float = MIN_PAUSE_S,
    threshold_db: float = THRESHOLD_DB,
    padding_s: float = PADDING_S,
    frame_s: float = FRAME_S,
) -> None:
    if not min_pause_s > 0:
        raise ValueError(f"`min_pause_s` must be above 0 seconds, got {min_pause_s}.")
    if not threshold_db < 0:
        raise ValueError(
            f"`pause_threshold_db` is a level below the loud frames' and must be negative, got {threshold_db}."
        )
    if not 0 <= padding_s:
        raise ValueError(f"`padding_s` must not be negative, got {padding_s}.")
    if not 0 < frame_s <= min_pause_s:
        raise ValueError(f"`frame_s` must be above 0 and at most `min_pause_s` ({min_pause_s}), got {frame_s}.")


def pause_segments(
    audio: np.ndarray,
    sampling_rate: int,
    max_samples: int,
    min_pause_s: float = MIN_PAUSE_S,
    threshold_db: float = THRESHOLD_DB,
    padding_s: float = PADDING_S,
    frame_s: float = FRAME_S,
) -> list[Segment]:
    """The speech segments of `audio` (mono float), in order, each cut at most `max_samples` long; [] when the
    recording is silent throughout."""
    check_segmentation(min_pause_s, threshold_db, padding_s, frame_s)
    frame = max(1, round(frame_s * sampling_rate))
    levels = frame_levels(audio, frame)
    loud = loud_frames(levels, threshold_db)
    if loud is None:
        return []
    runs = speech_runs(loud, max(1, round(min_pause_s * sampling_rate / frame)))
    padding, total = min(round(padding_s * sampling_rate), max_samples // 4), len(audio)
    spans = [
        (start * frame, min(end * frame, total))
        for first, last in runs  # frames [first, last)
        for start, end in split_to_fit(levels, first, last, frame, max_samples - 2 * padding)
    ]
    # The context around each piece reaches at most halfway to its neighbour, so no two pieces share audio: where
    # speech had to be cut (no pause), the pieces meet exactly at the cut.
    bounds = [0] + [(end + start) // 2 for (_, end), (start, _) in zip(spans, spans[1:], strict=False)] + [total]
    return [
        Segment(start, end, max(bounds[index], start - padding), min(bounds[index + 1], end + padding))
        for index, (start, end) in enumerate(spans)
    ]


def speech_runs(loud: np.ndarray, min_pause: int) -> list[tuple[int, int]]:
    """[first, last) frame runs of `loud` frames, joining runs separated by fewer than `min_pause` quiet frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    runs: list[list[int]] = []
    for first, last in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if runs and first - runs[-1][1] < min_pause:
            runs[-1][1] = last
        else:
            runs.append([first, last])
    return [(first, last) for first, last in runs]


def split_to_fit(levels: np.ndarray, first: int, last: int, frame: int, max_samples: int) -> list[tuple[int, int]]:
    """The run of frames [first, last) as pieces of at most `max_samples`, each cut at the quietest frame of the
    second half of what fits."""
    limit = max(2, max_samples // frame)
    pieces = []
    while last - first > limit:
        window = levels[first + limit // 2 : first + limit]
        cut = first + limit // 2 + int(np.argmin(window))
        pieces.append((first, cut))
        first = cut
    pieces.append((first, last))
    return pieces


def snap_to_sound(
    words: list[dict], levels: np.ndarray, frame_s: float, threshold_db: float = THRESHOLD_DB
) -> list[dict]:
    """Words (`{"text", "timestamp": (start, end)}`, seconds) with their edges moved to the sound around them.

    The alignments time a token by where the model is surest of it: CTC emits a token at one or two positions, often
    before the sound has ended. So an end inside sound moves on to where that sound stops (never past the next
    word's start), a start inside sound moves back to where it begins (never before the previous word's end), and an
    edge in quiet moves inward to the word's first or last loud frame. `levels` are the audio's frame levels in dB
    (`frame_levels`), loud when within `threshold_db` of the loud frames (99th percentile). Untimed words stay so.
    """
    loud = loud_frames(levels, threshold_db)
    if loud is None:
        return words
    frames = len(loud)
    timed = [index for index, word in enumerate(words) if word["timestamp"][0] is not None]
    edges = {index: [int(words[index]["timestamp"][0] / frame_s), int(np.ceil(words[index]["timestamp"][1] / frame_s))]
             for index in timed}  # fmt: skip
    snapped = [dict(word) for word in words]
    previous_end = 0
    for position, index in enumerate(timed):
        start, end = (min(max(edge, 0), frames) for edge in edges[index])
        next_start = edges[timed[position + 1]][0] if position + 1 < len(timed) else frames
        if start < end and loud[start:end].any():  # a word timed wholly in quiet is left as it is
            if loud[start]:
                while start > previous_end and loud[start - 1]:
                    start -= 1
            else:
                while start < end - 1 and not loud[start]:
                    start += 1
            if loud[end - 1]:
                while end < min(next_start, frames) and loud[end]:
                    end += 1
            else:
                while end - 1 > start and not loud[end - 1]:
                    end -= 1
        previous_end = end
        snapped[index]["timestamp"] = (round(start * frame_s, 3), round(end * frame_s, 3))
    return snapped


__all__ = ["Segment", "decibels", "frame_levels", "frame_rms", "pause_segments", "snap_to_sound"]
