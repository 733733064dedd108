"""`pipeline("automatic-speech-recognition")` for Echo: both views reach `generate()`, long audio is chunked.

transformers' ASR pipeline hands a seq2seq model only `input_features` and `attention_mask`, so Echo's waveform
view would be silently dropped; it also pads batched log-mels along the wrong axis, needs torchaudio to resample
and ffmpeg to read files, and offers no timestamps for seq2seq models. This subclass:

- cuts every chunk once and computes both views from that same slice, so log-mels and waveform always agree;
- aligns chunk and stride lengths to whole encoder positions (`samples_per_position` samples);
- passes every input of the feature extractor to `generate()`;
- reads files with soundfile and resamples with librosa (`audio_loading`), and takes a datasets audio cell of any
  datasets release (`{"bytes", "path"}`, `{"array", "sampling_rate"}` or a torchcodec `AudioDecoder`);
- transcribes digital silence (and empty audio) as "" without running the model, and with `vad_threshold` every
  clip, chunk or segment in which voice activity detection hears no speech (`voice_activity_echo`);
- joins overlapping chunks with `chunk_merge`: by time where the model has a CTC head (each chunk keeps the words
  its alignment centres in the audio it owns), else by text; with `return_timestamps=True` it returns each chunk's
  text with the span of audio it owns.

`import echo_hf` makes the task build this class for Echo models (`register_pipeline`). That needs a hook because
`pipeline()` picks the class before it loads the model, from one of two places: a config's `custom_pipelines`, which
it honours only with `trust_remote_code=True` and only for a model named by a string (a model object brings no
config), or else the task's entry in `PIPELINE_REGISTRY`, which serves every model. So the entry's `impl` becomes
`SpeechRecognitionPipelineForModel`, which builds this class for an Echo model and transformers' own for any other:
that one value is all echo_hf changes in transformers' pipelines. Every folder an Echo model is saved to names this
class in its config.json (`custom_pipelines`, written by `EchoConfig`) and carries this file and the files it
imports, so `trust_remote_code=True` alone selects it in a process that never imports `echo_hf`.
"""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import AutomaticSpeechRecognitionPipeline, GenerationConfig
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.pt_utils import PipelineChunkIterator, PipelineIterator, PipelinePackIterator

from .alignment_echo import attention_token_spans, ctc_forced_align, word_spans
from .audio_loading import decode_audio, decode_audio_bytes, is_audio_decoder, load_audio_file, to_mono_float
from .chunk_merge import merge_chunk_tokens, tokens_owned
from .segmentation_echo import check_segmentation, decibels, frame_rms, pause_segments, snap_to_sound
from .voice_activity_echo import MIN_SPEECH_S, SpeechDetector, check_vad

TASK = "automatic-speech-recognition"
# The shortest `max_segment_s`: ten 10 ms frames, so a piece and the quiet around it always fit.
MIN_SEGMENT_S = 0.1


def is_echo_model(model) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "echo"


class EchoSpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """The ASR pipeline for Echo: both views, soundfile/librosa audio input, chunked long audio, chunk timestamps.

    Generation follows the model's own `generation_config` (greedy unless it says otherwise), so the pipeline's
    tokens equal `model.generate(**processor(audio))` for the same keyword arguments.
    """

    _default_generation_config = GenerationConfig()
    # None = "load if present" (transformers' ASR pipeline says True, "must load"): a folder without processor files
    # then reaches `__init__`, which says what is missing, instead of failing inside AutoTokenizer.
    _load_tokenizer = None
    _load_feature_extractor = None

    def __init__(self, model, feature_extractor=None, tokenizer=None, **kwargs):
        source = getattr(model, "name_or_path", "") or "the model folder"
        missing = [
            name for name, part in (("feature extractor", feature_extractor), ("tokenizer", tokenizer)) if not part
        ]
        if missing:
            raise ValueError(
                f"The Echo pipeline needs a feature extractor and a tokenizer, but no {' or '.join(missing)} was "
                f"found for {source!r}: save them beside the model with `processor.save_pretrained(folder)` "
                "(preprocessor_config.json, tokenizer.json, tokenizer_config.json) or pass `feature_extractor=` and "
                "`tokenizer=` to `pipeline()`."
            )
        super().__init__(model, feature_extractor=feature_extractor, tokenizer=tokenizer, **kwargs)
        self.type = "seq2seq"
        self._detector: SpeechDetector | None = None  # loaded by the first `vad_threshold` call

    @property
    def _align_to(self) -> int:
        """Samples per encoder position: chunks and strides are whole positions of both views."""
        return self.model.config.samples_per_position

    def max_samples(self) -> int:
        """The longest audio one forward pass takes: the feature extractor's and the encoder's limits."""
        encoder_limit = self.model.config.max_source_positions * self._align_to
        return min(self.feature_extractor.n_samples, encoder_limit)

    def _sanitize_parameters(
        self,
        chunk_length_s=None,
        stride_length_s=None,
        return_timestamps=None,
        segment_at_pauses=None,
        min_pause_s=None,
        pause_threshold_db=None,
        max_segment_s=None,
        snap_words_to_sound=None,
        vad_threshold=None,
        vad_min_speech_s=None,
        chunk_merge=None,
        **kwargs,
    ):
        for unsupported in ("return_language", "decoder_kwargs"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(f"`{unsupported}` is not supported by Echo's pipeline.")
        if return_timestamps not in (None, False, True, "word"):
            raise ValueError(
                f'Echo gives chunk-level (`return_timestamps=True`) or word-level (`"word"`) timestamps, not '
                f"{return_timestamps!r}."
            )
        if chunk_merge not in (None, "time", "text"):
            raise ValueError(f'`chunk_merge` joins chunks by "time" or by "text", not {chunk_merge!r}.')
        if chunk_merge == "time" and self._word_alignment() is None:
            raise ValueError(
                '`chunk_merge="time"` keeps the words each chunk\'s alignment places in the audio it owns, and this '
                'model has neither a CTC head nor `alignment_heads` to align with: use `chunk_merge="text"`.'
            )
        if segment_at_pauses and chunk_length_s:
            raise ValueError("Pass `segment_at_pauses=True` or `chunk_length_s`, not both: they cut audio two ways.")
        # Settings given when the pipeline was built hold unless a call changes them: a call may tune them alone.
        stored = getattr(self, "_preprocess_params", None) or {}
        if segment_at_pauses is None and "segmentation" in stored:
            segment_at_pauses = True
        given = {
            name: value
            for name, value in (("min_pause_s", min_pause_s), ("threshold_db", pause_threshold_db))
            if value is not None
        }
        if (given or max_segment_s is not None) and not segment_at_pauses:
            raise ValueError(
                "`min_pause_s`, `pause_threshold_db` and `max_segment_s` tune `segment_at_pauses=True`; pass it too."
            )
        segmentation = {**stored.get("segmentation", {}), **given} if segment_at_pauses else {}
        check_segmentation(**segmentation)
        if max_segment_s is not None:
            limit = self.max_samples() / self.feature_extractor.sampling_rate
            if not MIN_SEGMENT_S <= max_segment_s <= limit:
                raise ValueError(
                    f"`max_segment_s` must be at least {MIN_SEGMENT_S} s and at most the {limit:g} s the model takes, "
                    f"got {max_segment_s}."
                )
        stored_vad = stored.get("vad")
        if vad_threshold is None and vad_min_speech_s is not None and stored_vad is not None:
            vad_threshold = stored_vad[0]
        check_vad(vad_threshold, vad_min_speech_s)
        preprocess, forward, postprocess = super()._sanitize_parameters(ignore_warning=True, **kwargs)
        if return_timestamps == "word":
            if self._word_alignment() is None:
                raise ValueError(
                    'return_timestamps="word" aligns the transcript with the encoder\'s CTC head or with the '
                    "decoder's cross-attention (`alignment_heads`), and this model offers neither (no CTC head, "
                    "`alignment_heads` empty, or a backend without attention weights); use `return_timestamps=True` "
                    "for chunk-level times."
                )
            forward["return_word_timestamps"] = True
            if snap_words_to_sound is not False:  # the pieces' frame levels travel to postprocess
                preprocess["word_levels"] = True
        if chunk_length_s is not None:
            preprocess["chunk_length_s"] = chunk_length_s
        if stride_length_s is not None:
            preprocess["stride_length_s"] = stride_length_s
        if segment_at_pauses:
            preprocess["segmentation"] = segmentation
        if max_segment_s is not None:
            preprocess["max_segment_s"] = max_segment_s
        elif segment_at_pauses is False and "segmentation" in stored:
            preprocess["segmentation"] = None  # this call does not cut at pauses
        if vad_threshold is not None:
            if vad_min_speech_s is None:
                vad_min_speech_s = MIN_SPEECH_S if stored_vad is None else stored_vad[1]
            preprocess["vad"] = (vad_threshold, vad_min_speech_s)
        if return_timestamps is not None:
            postprocess["return_timestamps"] = return_timestamps
        if chunk_merge is not None:
            forward["chunk_merge"] = postprocess["chunk_merge"] = chunk_merge
        return preprocess, forward, postprocess

    def _chunk_merge(self, chunk_merge: str | None) -> str:
        """How chunks are joined: as asked, else by time with a CTC head (whose alignments are the reliable ones)
        and by text without."""
        return chunk_merge or ("time" if self._word_alignment() == "ctc" else "text")

    # ---------------------------------------------------------------------------------------------- preprocess

    def preprocess(
        self,
        inputs,
        chunk_length_s: float = 0,
        stride_length_s=None,
        segmentation: dict | None = None,
        word_levels: bool = False,
        vad: tuple[float, float] | None = None,
        max_segment_s: float | None = None,
    ):
        audio = self._as_audio(inputs)
        limit = self.max_samples()
        rate = self.feature_extractor.sampling_rate
        if segmentation is not None:
            yield from self._segments(audio, segmentation, word_levels, vad, max_segment_s)
            return
        if not chunk_length_s:
            if audio.shape[0] > limit:
                raise ValueError(
                    f"The audio is {audio.shape[0] / rate:.1f} s long but the model takes at most {limit / rate:.1f} s "
                    "at once: pass `segment_at_pauses=True` to cut it at its pauses, or `chunk_length_s` (e.g. "
                    f"`chunk_length_s={limit / rate / 2:g}`) to transcribe it in overlapping chunks."
                )
            yield {**self._features(audio, word_levels, vad), "is_last": True, "stride": None, "chunk_start": 0,
                   "overlap_silent": True}  # fmt: skip
            return

        chunk_len, left, right = self._chunk_lengths(chunk_length_s, stride_length_s)
        if chunk_len > limit:
            raise ValueError(
                f"`chunk_length_s={chunk_length_s}` is more than the {limit / rate:.1f} s the model takes: "
                f"use at most {limit / rate:g}."
            )
        step = chunk_len - left - right
        for start in range(0, max(audio.shape[0], 1), step):
            chunk = audio[start : start + chunk_len]
            is_last = start + chunk_len >= audio.shape[0]
            # The audio this chunk shares with the previous one (whose right stride is never 0 here).
            shared = audio[start : start + left + right] if start else audio[:0]
            yield {
                **self._features(chunk, word_levels, vad),
                "is_last": is_last,
                "stride": (chunk.shape[0], left if start else 0, 0 if is_last else right),
                "chunk_start": start,
                "overlap_silent": not np.any(shared),
            }
            if is_last:
                break

    def _segments(
        self, audio: np.ndarray, segmentation: dict, word_levels: bool, vad: tuple | None, max_segment_s: float | None
    ):
        """One item per stretch of speech between pauses (`segmentation_echo`), each with its speech's span; a stretch
        longer than `max_segment_s` (default: what the model takes) is cut at its quietest frames."""
        rate = self.feature_extractor.sampling_rate
        longest = self.max_samples() if max_segment_s is None else round(max_segment_s * rate)
        segments = pause_segments(audio, rate, longest, **segmentation)
        if not segments:  # quiet throughout: one empty item, transcribed as ""
            yield {**self._features(audio[:0], word_levels), "is_last": True, "stride": None, "chunk_start": 0,
                   "overlap_silent": True, "segment": (0, audio.shape[0])}  # fmt: skip
        for index, segment in enumerate(segments):
            yield {
                **self._features(audio[segment.cut_start : segment.cut_end], word_levels, vad),
                "is_last": index == len(segments) - 1,
                "stride": None,
                "chunk_start": segment.cut_start,
                "overlap_silent": True,  # segments share no audio: their transcripts are joined as they are
                "segment": (segment.start, segment.end),
            }

    def _chunk_lengths(self, chunk_length_s: float, stride_length_s) -> tuple[int, int, int]:
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        if isinstance(stride_length_s, (int, float)):
            stride_length_s = (stride_length_s, stride_length_s)
        rate, align = self.feature_extractor.sampling_rate, self._align_to
        chunk_len, left, right = (int(round(s * rate / align)) * align for s in (chunk_length_s, *stride_length_s))
        if chunk_len <= left + right:
            raise ValueError(
                f"`chunk_length_s={chunk_length_s}` must be longer than the two strides {tuple(stride_length_s)} "
                "together (after rounding to whole encoder positions)."
            )
        return chunk_len, left, right

    def _as_audio(self, inputs) -> np.ndarray:
        rate = self.feature_extractor.sampling_rate
        if isinstance(inputs, (str, Path)):
            if str(inputs).startswith(("http://", "https://")):
                raise ValueError(f"Echo's pipeline reads local files only; download {inputs!r} first.")
            return load_audio_file(inputs, rate)
        if isinstance(inputs, bytes):
            return decode_audio_bytes(inputs, rate)
        if isinstance(inputs, dict):
            if "stride" in inputs:
                raise ValueError("A `stride` in the input dict is for CTC models; use `chunk_length_s` with Echo.")
            if inputs.get("raw", inputs.get("array")) is not None and "sampling_rate" not in inputs:
                raise ValueError(
                    'An input dict with audio under "raw" (or "array") needs its rate under "sampling_rate".'
                )
            # Also a datasets cell: {"bytes", "path"} (decode=False) or datasets 3's decoded {"array", ...}.
            return decode_audio(inputs, rate, max_channels=2)
        if is_audio_decoder(inputs):  # a datasets 4+ decoded cell (torchcodec), not imported: see audio_loading
            return decode_audio(inputs, rate)
        if isinstance(inputs, (np.ndarray, torch.Tensor)):
            return to_mono_float(inputs)
        raise TypeError(
            f"Echo's pipeline takes a file path, audio file bytes, a numpy array or tensor at {rate} Hz, a "
            f'{{"raw": array, "sampling_rate": rate}} dict, or a datasets audio cell; got {type(inputs).__name__}.'
        )

    def _features(self, audio: np.ndarray, word_levels: bool = False, vad: tuple[float, float] | None = None) -> dict:
        """Both views of one slice, and whether it is silent: digital silence (empty audio counts), or, with
        `vad_threshold`, less than `vad_min_speech_s` of speech heard; with `word_levels`, its frame levels too,
        which word timestamps snap to."""
        silent, audio_length = not np.any(audio), audio.shape[0]
        if not silent and vad is not None:
            silent = not self._speech_detector().hears_speech(audio, *vad)
        levels = {}
        if word_levels:  # (1, frames) RMS, a tensor so batches pad it in time like the views (0: silence)
            levels["frame_rms"] = torch.from_numpy(frame_rms(audio, self.feature_extractor.hop_length)).float()[None]
        if audio.shape[0] < self.feature_extractor.hop_length:  # too short for one frame: nothing to hear
            audio = np.zeros(self.feature_extractor.hop_length, dtype=np.float32)
        processed = self.feature_extractor(
            audio, sampling_rate=self.feature_extractor.sampling_rate, return_tensors="pt", return_attention_mask=True
        )
        if self.dtype is not None:
            processed = processed.to(dtype=self.dtype)  # casts the float views only
        return {**processed, "is_silent": silent, "num_samples": audio_length, **levels}

    def _speech_detector(self) -> SpeechDetector:
        """The voice activity detector, loaded on first use."""
        if self._detector is None:
            self._detector = SpeechDetector(self.feature_extractor.sampling_rate)
        return self._detector

    # ---------------------------------------------------------------------------------------------- batching

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        # transformers' collate pads (batch, mels, frames) along the mel axis; Echo pads every view in time, with 0.
        dataset = PipelineChunkIterator(inputs, self.preprocess, preprocess_params)
        collate = _unbatch if batch_size == 1 else _pad_in_time
        dataloader = DataLoader(dataset, num_workers=0, batch_size=batch_size, collate_fn=collate)
        model_iterator = PipelinePackIterator(dataloader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)

    # ---------------------------------------------------------------------------------------------- forward

    def _forward(
        self, model_inputs, return_word_timestamps: bool = False, chunk_merge: str | None = None, **generate_kwargs
    ):
        is_last = model_inputs.pop("is_last")
        strides = model_inputs.get("stride")
        chunked = any(stride is not None for stride in (strides if isinstance(strides, list) else [strides]))
        # Joining chunks by time needs every token's span, as word timestamps do.
        return_word_timestamps = return_word_timestamps or (chunked and self._chunk_merge(chunk_merge) == "time")
        silent = model_inputs.pop("is_silent")
        silent = torch.tensor(silent if isinstance(silent, list) else [silent])
        views = {
            name: model_inputs.pop(name) for name in self.feature_extractor.model_input_names if name in model_inputs
        }
        spans = None
        if bool(silent.all()):  # nothing to hear: no model call, no chance of a hallucinated loop
            tokens = torch.zeros(len(silent), 1, dtype=torch.long)
        else:
            inputs = views
            if return_word_timestamps:  # encode once: the decoder and the CTC alignment read the same states
                encoded = self.model.get_encoder()(**views, return_dict=True)
                inputs = {"encoder_outputs": encoded, "attention_mask": views.get("attention_mask")}
            tokens = self.model.generate(**inputs, **self._prepare_generate_kwargs(generate_kwargs))
            tokens = getattr(tokens, "sequences", tokens)
            tokens = tokens.masked_fill(silent[:, None].to(tokens.device), self.model.config.pad_token_id)
            if return_word_timestamps:
                spans = self._token_spans(encoded, tokens)
        if return_word_timestamps and spans is None:
            spans = torch.full((*tokens.shape, 2), -1, dtype=torch.long)
        return {"is_last": is_last, "tokens": tokens, **({"spans": spans} if spans is not None else {}), **model_inputs}

    def _word_alignment(self) -> str | None:
        """How word times are found: "ctc" (the CTC head), "attention" (cross-attention of `alignment_heads`, for a
        PyTorch model without a CTC head) or None."""
        if getattr(self.model, "ctc_head", None) is not None:
            return "ctc"
        if isinstance(self.model, torch.nn.Module) and self.model.config.alignment_heads:
            return "attention"
        return None

    def _text_token_indices(self, ids: list[int]) -> list[int]:
        """Where a row of generated ids holds text: not the start, end-of-text, padding or other special ids."""
        special = set(self.tokenizer.all_special_ids) | {self.model.config.pad_token_id}
        return [index for index, token in enumerate(ids) if token not in special]

    def _token_spans(self, encoded, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, 2): the encoder positions [start, end) each generated token is aligned to, by the CTC head
        or else by cross-attention; -1 for special tokens and where no alignment fits."""
        by_ctc = self._word_alignment() == "ctc"
        if by_ctc:
            log_probs = self.model.ctc_log_probs(encoded, 'return_timestamps="word"')[0].cpu()
        else:
            outputs = self.model(encoder_outputs=encoded, decoder_input_ids=tokens, output_attentions=True)
            # (batch, heads, tokens, positions): query q is the step that emitted token q + 1
            weights = torch.stack([outputs.cross_attentions[layer][:, head] for layer, head in
                                   self.model.config.alignment_heads], 1).float().cpu()  # fmt: skip
        spans = torch.full((*tokens.shape, 2), -1, dtype=torch.long)
        for row, (ids, length) in enumerate(zip(tokens.tolist(), encoded.lengths.tolist(), strict=True)):
            kept = self._text_token_indices(ids)
            if by_ctc:
                aligned = ctc_forced_align(log_probs[row, :length], [ids[index] for index in kept])
            else:
                # the end of text's step too, so the trailing silence it attends to is not given to the last word
                ends = [index for index in range(1, len(ids)) if ids[index] == self.model.config.eos_token_id][:1]
                steps = [index - 1 for index in kept + ends]
                aligned = attention_token_spans(weights[row][:, steps, :length])[: len(kept)]
            for index, span in zip(kept, aligned or [], strict=False):
                spans[row, index] = torch.tensor(span)
        return spans

    # ---------------------------------------------------------------------------------------------- postprocess

    def postprocess(self, model_outputs, return_timestamps=None, chunk_merge=None, **kwargs):
        kept = self._kept_tokens(model_outputs, self._chunk_merge(chunk_merge))
        # Each chunk's text is decoded on its own: byte-level BPE puts no space before a chunk's first word.
        texts = [
            self.tokenizer.decode(out["tokens"][0][indices].tolist(), skip_special_tokens=True).strip()
            for out, indices in zip(model_outputs, kept, strict=True)
        ]
        result = {"text": " ".join(text for text in texts if text)}
        if return_timestamps == "word":  # each chunk's words, less those another chunk gives
            result["chunks"] = [
                word
                for output, indices in zip(model_outputs, kept, strict=True)
                for word in self._words(output, indices)
            ]
        elif return_timestamps:
            result["chunks"] = [
                {"text": text, "timestamp": self._owned_span(out)}
                for text, out in zip(texts, model_outputs, strict=True)
            ]
        return result

    def _kept_tokens(self, model_outputs: list[dict], chunk_merge: str) -> list[list[int]]:
        """For each chunk, the indices of the text tokens it adds to the transcript (`chunk_merge`)."""
        rows = [self._text_token_indices(out["tokens"][0].tolist()) for out in model_outputs]
        sequences = [out["tokens"][0][indices].tolist() for out, indices in zip(model_outputs, rows, strict=True)]
        by_text = merge_chunk_tokens(sequences, [bool(out["overlap_silent"]) for out in model_outputs])
        kept = [indices[len(indices) - len(piece) :] for indices, piece in zip(rows, by_text, strict=True)]
        if chunk_merge != "time":
            return kept
        per = self._align_to
        for chunk, (out, indices) in enumerate(zip(model_outputs, rows, strict=True)):
            spans = out["spans"][0][indices].tolist() if out.get("spans") is not None else None
            if out["stride"] is None or spans is None or any(start < 0 for start, _ in spans):
                continue  # not a chunk, or no alignment fitted: its text rule stands
            length, left, right = out["stride"]
            pieces = [self.tokenizer.decode([int(out["tokens"][0][index])]) for index in indices]
            owned = tokens_owned(pieces, spans, (left / per, (length - right) / per))
            kept[chunk] = [indices[index] for index in owned]
        return kept

    def _words(self, output: dict, kept: list[int]) -> list[dict]:
        """The words of one chunk's text tokens at the indices `kept`, in the recording's time."""
        tokens, spans = output["tokens"][0], output["spans"][0]
        pieces = [self.tokenizer.decode([int(tokens[index])]) for index in kept]
        token_spans = [tuple(spans[index].tolist()) for index in kept]
        aligned = None if any(start < 0 for start, _ in token_spans) else token_spans
        rate = self.feature_extractor.sampling_rate
        words = word_spans(pieces, aligned, self.model.config.samples_per_position / rate)
        if output.get("frame_rms") is not None:
            levels = decibels(output["frame_rms"][0].cpu().double().numpy())
            words = snap_to_sound(words, levels, self.feature_extractor.hop_length / rate)
        offset_s = output["chunk_start"] / rate
        if offset_s:
            for word in words:
                if word["timestamp"][0] is not None:
                    word["timestamp"] = tuple(round(time + offset_s, 3) for time in word["timestamp"])
        return words

    def _owned_span(self, output) -> tuple[float, float]:
        """The audio a chunk owns, in seconds: its span less the strides it shares, so the spans tile the audio."""
        rate = self.feature_extractor.sampling_rate
        start = output["chunk_start"]
        if output.get("segment") is not None:  # a pause's segment: the speech in it
            return tuple(round(sample / rate, 3) for sample in output["segment"])
        if output["stride"] is None:
            return (0.0, round(output["num_samples"] / rate, 3))
        length, left, right = output["stride"]
        return (round((start + left) / rate, 3), round((start + length - right) / rate, 3))


def _unbatch(items: list[dict]) -> dict:
    (item,) = items
    return item


def _pad_in_time(items: list[dict]) -> dict:
    """Stack items, zero-padding tensors along their last (time) axis; other values become lists."""
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            longest = max(value.shape[-1] for value in values)
            values = [torch.nn.functional.pad(value, (0, longest - value.shape[-1])) for value in values]
            batch[key] = torch.cat(values, dim=0)
        else:
            batch[key] = values
    return batch


class SpeechRecognitionPipelineForModel:
    """The task's implementation once echo_hf is imported: calling it builds an `EchoSpeechRecognitionPipeline` for an
    Echo model and transformers' own `AutomaticSpeechRecognitionPipeline` for any other, never an instance of itself.
    """

    # `pipeline()` reads what to load off the task's class, the same for every model, before it calls it. These are
    # Echo's flags: transformers' own but None ("load if present") for the feature extractor and tokenizer, so an Echo
    # folder without them reaches Echo's error. A load that succeeds is the same under either; where one fails,
    # transformers' flags raise inside `pipeline()`, so `__new__` raises for other models in their place.
    _load_processor = EchoSpeechRecognitionPipeline._load_processor
    _load_image_processor = EchoSpeechRecognitionPipeline._load_image_processor
    _load_video_processor = EchoSpeechRecognitionPipeline._load_video_processor
    _load_feature_extractor = EchoSpeechRecognitionPipeline._load_feature_extractor
    _load_tokenizer = EchoSpeechRecognitionPipeline._load_tokenizer

    def __new__(cls, model, feature_extractor=None, tokenizer=None, **kwargs) -> AutomaticSpeechRecognitionPipeline:
        parts = {"feature_extractor": feature_extractor, "tokenizer": tokenizer}
        if is_echo_model(model):
            return EchoSpeechRecognitionPipeline(model, **parts, **kwargs)
        missing = [name for name, part in parts.items() if part is None]
        if missing:
            source = getattr(model, "name_or_path", "") or type(model).__name__
            raise ValueError(
                f"No {' or '.join(missing)} could be loaded for {source!r}, and transformers' speech recognition "
                f"pipeline needs both: pass {' and '.join(f'`{name}=`' for name in missing)} to `pipeline()`."
            )
        return AutomaticSpeechRecognitionPipeline(model, **parts, **kwargs)


def register_pipeline() -> None:
    """Make `pipeline("automatic-speech-recognition", model=<Echo>)` build an `EchoSpeechRecognitionPipeline`."""
    # Set in place: `PIPELINE_REGISTRY.register_pipeline` would also replace the task's model classes and default
    # model, and warn on every import that it overwrites the task.
    PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] = SpeechRecognitionPipelineForModel


__all__ = ["EchoSpeechRecognitionPipeline", "SpeechRecognitionPipelineForModel", "is_echo_model", "register_pipeline"]
