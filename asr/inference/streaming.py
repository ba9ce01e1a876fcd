"""Live transcription: feed audio chunks as they arrive, get partial and final results.

    recognizer = StreamingRecognizer(asr.load_model())
    for chunk in microphone_chunks():  # any rate, mono or (N, C), int or float
        for event in recognizer.accept(chunk, sample_rate=48000):
            print(event)               # Partial(text=...) / Final(text, start, end)
    recognizer.flush()                 # end of stream: the last Final, if any

The encoder is bidirectional, so it cannot emit text frame by frame; instead the VAD
(``asr.audio.vad``) closes a segment at each pause (or at ``max_segment_s``) and the
recognizer decodes that segment once for its ``Final`` (with the model's LM beam
search when it ships one). While a segment is open it is re-decoded greedily, for
speed, at most every ``partial_every_s`` for a ``Partial``. Only the open
segment is ever re-read, so the work per chunk is bounded by ``max_segment_s`` of
audio however long the person speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..audio.blocks import StreamResampler
from ..audio.io import SAMPLE_RATE, check_rate, to_float
from ..audio.vad import SpeechSegment, VadConfig, VadSegmenter
from ..core.cpu import set_threads


@dataclass(frozen=True)
class Partial:
    text: str  # best guess for the open segment so far; superseded by the next event


@dataclass(frozen=True)
class Final:
    text: str  # transcript of a closed segment; never revised
    start: float  # seconds from the start of the stream
    end: float  # seconds from the start of the stream
    match: Any = (
        None  # with a grammar: the ``asr.decoding.match.Match`` (slots, confidence)
    )


Event = Partial | Final


class StreamingRecognizer:
    """Incremental recognition with VAD endpointing.

    Args:
        model: an ``ASRModel`` (anything with ``transcribe_batch``).
        vad_config: pause detection; its ``max_segment_s`` is replaced by
            ``max_segment_s`` when that is given.
        max_segment_s: longest open segment; reaching it forces a ``Final``.
        partial_every_s: seconds of new audio in the open segment between partials;
            0 disables partial results.
        grammar: restrict finals to a grammar's sentences (a path, phrases, a
            ``Grammar`` or a ``GrammarDecoder``): each ``Final`` then carries its
            ``Match`` and its text is the sentence or "[unk]". A grammar wins over
            ``decoder``. Partials stay free.
        decoder: how finals are decoded without a grammar, as
            ``ASRModel.transcribe``'s ``decoder`` ("auto": the model's LM beam
            search if it ships one, else greedy). Partials are always greedy.
    """

    def __init__(
        self,
        model,
        vad_config: VadConfig | None = None,
        max_segment_s: float | None = None,
        partial_every_s: float = 0.5,
        grammar=None,
        decoder="auto",
    ):
        vad_config = vad_config or VadConfig()
        if max_segment_s is not None:
            min_cut = min(vad_config.min_cut_s, max_segment_s / 2)
            vad_config = replace(
                vad_config, max_segment_s=max_segment_s, min_cut_s=min_cut
            )
        set_threads(getattr(model, "threads", None))  # the model's, else $ASR_THREADS
        self.model = model
        self.decoder = decoder
        self.vad_config = vad_config
        self.partial_every = int(partial_every_s * SAMPLE_RATE)
        self.segmenter = VadSegmenter(vad_config)
        self.resampler: StreamResampler | None = None
        self.partial_for: tuple[int, int] = (-1, 0)  # (segment start, samples decoded)
        self.decoded_last_call = 0  # samples decoded by the last accept/flush call
        self.grammar = None  # decoder constrained to a grammar, for finals
        if grammar is not None:
            self.grammar = grammar
            if not callable(grammar):  # a path, phrases or Grammar: compile it once
                self.grammar = model.grammar_decoder(grammar)

    def accept(self, chunk: np.ndarray, sample_rate: int) -> list[Event]:
        """Take the next chunk of audio.

        Args:
            chunk: (N,) or (N, C) samples; integer PCM is scaled by its full range
                (int16 / 32768), floats are taken as they are.
            sample_rate: rate of ``chunk`` in Hz; it may change between calls.

        Returns:
            The events this chunk caused, in order: ``Final`` for each segment it
            closed, then possibly one ``Partial`` for the segment still open.
        """
        samples, sample_rate = to_float(chunk), check_rate(sample_rate)
        self.decoded_last_call = 0
        events: list[Event] = []
        if self.resampler is None or self.resampler.source_rate != sample_rate:
            events += self._finals(self._drain_resampler())
            self.resampler = StreamResampler(int(sample_rate))
        events += self._finals(self.segmenter.push(self.resampler.push(samples)))
        if not events:  # at most one decode per call: a Final, or else a Partial
            events += self._partial()
        return events

    def flush(self) -> list[Event]:
        """End of stream: decode what is still open; the recognizer can be reused."""
        self.decoded_last_call = 0
        events = self._finals(self._drain_resampler())
        events += self._finals(self.segmenter.flush())
        self.resampler = None
        return events

    def _drain_resampler(self) -> list[SpeechSegment]:
        if self.resampler is None:
            return []
        return self.segmenter.push(self.resampler.flush())

    def _finals(self, segments: list[SpeechSegment]) -> list[Final]:
        if not segments:
            return []
        waves = [s.samples for s in segments]
        if self.grammar is None:
            texts = self.model.transcribe_batch(waves, decoder=self.decoder)
            matches = [None] * len(texts)
        else:
            matches = self.model.transcribe_batch(waves, decoder=self.grammar)
            texts = [m.text for m in matches]
        self.decoded_last_call += sum(len(s.samples) for s in segments)
        return [
            Final(text, s.start / SAMPLE_RATE, s.end / SAMPLE_RATE, match)
            for s, text, match in zip(segments, texts, matches, strict=True)
        ]

    def _partial(self) -> list[Partial]:
        segment = self.segmenter.open_segment()
        if segment is None or self.partial_every <= 0:
            return []
        start, decoded = self.partial_for
        if (
            start == segment.start
            and len(segment.samples) - decoded < self.partial_every
        ):
            return []
        self.partial_for = (segment.start, len(segment.samples))
        self.decoded_last_call += len(segment.samples)
        texts = self.model.transcribe_batch([segment.samples], decoder="greedy")
        return [Partial(texts[0])]
