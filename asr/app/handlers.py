"""What the demo's tabs compute, apart from the page: the Live tab's sessions
(``LiveSession``, ``live_chunk``, ``live_stop``) and the File tab's transcriber
(``make_transcriber``), with the grammar-box, hotword, recording and download
helpers they share. Bad input raises ``gr.Error``, which the page shows as a message.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

import asr

from ..decoding.beam import check_hotwords
from .limits import (
    LIVE_SESSIONS,
    MAX_FINALS,
    MAX_GRAMMAR_CHARS,
    check_chunk,
    check_grammar_work,
    client_gone,
    downloads_root,
    prune_downloads,
)
from .models import ModelCache

MAX_SECONDS = 600  # longer recordings (file or live) are refused with a message
HISTORY_S = 30.0  # seconds of live audio kept (at 16 kHz) to draw the last utterance
DECODERS = ("LM beam search", "greedy")  # the File tab's choices, default first
DOWNLOAD_FORMATS = ("srt", "vtt", "json")
HOTWORD_BONUS = 3.0  # beam-score bonus per hotword word (natural log units)


# -- live --------------------------------------------------------------------------


class LiveSession:
    """One browser tab's live recognition: partial text while the person speaks,
    final segments at pauses, and the audio of the last final for the pictures.

    Args:
        model: the ``ASRModel`` to recognise with.
        max_seconds: longest recording; later chunks are ignored with a message.
    """

    def __init__(self, model: asr.ASRModel, max_seconds: float = MAX_SECONDS):
        self.model = model
        self.max_seconds = max_seconds
        self.finals: list[str] = []  # every final segment, kept across recordings
        self.utterance: np.ndarray | None = None  # 16 kHz audio of the last final
        self.grammar_text = ""  # the Live tab's grammar box, as last applied
        self.grammar: asr.Grammar | None = None
        self._start_recording()
        LIVE_SESSIONS.add(self)

    def set_grammar(self, text: str | None) -> None:
        """Decode finals with the grammar in ``text`` (empty: free transcription);
        a changed grammar restarts the recognizer, keeping the finals.

        Raises:
            gr.Error: the grammar cannot be used (the message says where).
        """
        text = text or ""
        if text != self.grammar_text:  # parse and compile first, store after
            grammar = read_grammar_box(text)
            try:
                recognizer = asr.StreamingRecognizer(self.model, grammar=grammar)
            except asr.GrammarError as error:
                raise gr.Error(f"Grammar: {error}") from None
            self.grammar_text, self.grammar = text, grammar
            self._start_recording(recognizer)

    def _start_recording(self, recognizer=None) -> None:
        self.recognizer = recognizer or asr.StreamingRecognizer(
            self.model, grammar=self.grammar
        )
        self.partial = ""
        self.received_s = 0.0  # seconds of audio received in this recording
        self.history: deque = deque()  # (start s, 16 kHz float mono) chunks

    def release(self) -> None:
        """Let go of the audio held (history and the open segment), keeping the
        finals: the next chunk starts a new recording."""
        self.utterance = None
        self._start_recording()

    def on_chunk(self, chunk: tuple[int, np.ndarray]) -> tuple[str, str]:
        """Take one chunk from the browser.

        Args:
            chunk: (rate in Hz, (N,) or (N, C) int16 samples) as ``gr.Audio`` streams
                it; resampled to 16 kHz, never peak-normalised (silence stays silence).

        Returns:
            (partial text of the open segment, final segments one per line).

        Raises:
            asr.AudioError: a rate above ``MAX_LIVE_RATE`` or a chunk over
                ``MAX_CHUNK_S``, before anything is stored or computed.
        """
        rate, samples = check_chunk(chunk)
        LIVE_SESSIONS.touch(self)
        if samples.size == 0:
            return self.partial, self.finals_text
        if self.received_s >= self.max_seconds:
            self.partial = (
                f"(recording limit of {self.max_seconds:g} s reached: press Stop)"
            )
            return self.partial, self.finals_text
        self._remember(rate, samples)
        self._apply(self.recognizer.accept(samples, rate))
        return self.partial, self.finals_text

    def stop(self) -> tuple[str, str]:
        """End of a recording: the open segment becomes final; the next chunk starts a
        new recording (with a fresh recognizer) whose finals are appended."""
        self._apply(self.recognizer.flush())
        self._start_recording()
        return self.partial, self.finals_text

    @property
    def finals_text(self) -> str:
        return "\n".join(t for t in self.finals if t)

    def _apply(self, events: list) -> None:
        for event in events:
            if isinstance(event, asr.Final):
                match = event.match
                self.finals.append(describe_match(match) if match else event.text)
                del self.finals[:-MAX_FINALS]
                self.partial = ""
                self.utterance = self._cut(event.start, event.end)
            else:
                self.partial = event.text

    def _remember(self, rate: int, samples: np.ndarray) -> None:
        mono = asr.prepare_audio(samples, rate)  # stored at 16 kHz, whatever came in
        self.history.append((self.received_s, mono))
        self.received_s += len(mono) / asr.SAMPLE_RATE
        while self.history and self.history[0][0] < self.received_s - HISTORY_S:
            self.history.popleft()

    def _cut(self, start: float, end: float) -> np.ndarray | None:
        """16 kHz audio from ``start`` to ``end`` seconds, if still in the history."""
        rate = asr.SAMPLE_RATE
        pieces = [
            (t, x) for t, x in self.history if t + len(x) / rate > start and t < end
        ]
        if not pieces:
            return None
        audio = np.concatenate([x for _, x in pieces])
        t0 = pieces[0][0]
        audio = audio[max(0, round((start - t0) * rate)) : round((end - t0) * rate)]
        return audio if len(audio) else None

    @property
    def stored_bytes(self) -> int:
        """Bytes of audio this session holds (history and last utterance)."""
        held = sum(x.nbytes for _, x in self.history)
        return held + (self.utterance.nbytes if self.utterance is not None else 0)


def live_chunk(
    session, chunk, model_path, cache: ModelCache, max_seconds: float, grammar=""
):
    """The Live tab's stream handler: (state, chunk, model, grammar box) -> (state,
    partial, finals, last utterance). A session is created on the first chunk of a
    tab; a grammar that cannot be used is reported in the partial box."""
    if session is None:
        session = LiveSession(cache.get(model_path), max_seconds)
    try:
        session.set_grammar(grammar)
    except gr.Error as error:
        return session, error.message, session.finals_text, session.utterance
    if chunk is None:
        return session, session.partial, session.finals_text, session.utterance
    try:
        partial, finals = session.on_chunk(chunk)
    except (asr.AudioError, TypeError, ValueError) as error:
        reason = str(error).split(": ", 1)[-1][:200]
        partial = f"(a chunk of audio could not be used: {reason})"
        finals = session.finals_text
    return session, partial, finals, session.utterance


def live_stop(session):
    """Stop pressed: flush the open segment into the finals."""
    if session is None:
        return None, "", "", None
    partial, finals = session.stop()
    return session, partial, finals, session.utterance


# -- file --------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeChoice:
    method: str = DECODERS[0]  # one of DECODERS
    hotwords: tuple[str, ...] = ()  # words to favour; used by the LM beam decoder


def parse_hotwords(text: str | None) -> tuple[str, ...]:
    """'Philip, steels' -> ('philip', 'steels'): comma- or newline-separated; too
    many or too long hotwords get a message (``asr.decoding.beam.check_hotwords``)."""
    pieces = re.split(r"[,\n]", text or "")
    words = tuple(w.strip().lower() for w in pieces if w.strip())
    try:
        check_hotwords(tuple((w, HOTWORD_BONUS) for w in words))
    except ValueError as error:
        raise gr.Error(f"Hotwords: {error}.") from None
    return words


def decode_segments(model: asr.ASRModel, wave: np.ndarray, choice: DecodeChoice):
    """Segments of 16 kHz ``wave``, with word times, decoded as ``choice`` asks:
    greedy, the model's LM beam search (the shipped English LM for a model that
    ships none), or that with hotwords boosted. An iterator: each segment is
    decoded when it is asked for, so the caller can stop in between."""
    if choice.method not in DECODERS:
        method = choice.method[:40]
        raise gr.Error(f"Unknown decoding {method!r}; choose one of {DECODERS}.")
    if choice.method == "greedy":
        return model.transcribe_segments(wave, decoder="greedy", words=True)
    try:
        if choice.hotwords:
            decoder = beam_decoder(model, choice.hotwords)
        else:
            decoder = model.resolve_decoder("beam")
    except (ValueError, OSError) as error:  # no LM for this model, or a bad one
        reason = str(error).split(": ", 1)[-1][:200]
        raise gr.Error(f"LM beam search is not available here: {reason}") from None
    return model.transcribe_segments(wave, decoder=decoder, words=True)


@functools.lru_cache(maxsize=8)
def beam_decoder(model: asr.ASRModel, hotwords: tuple[str, ...]):
    """The model's LM beam decoder with ``hotwords`` boosted. The LM itself is
    loaded once per process and shared; hotwords only add a lexicon trie (well
    under a second), and the last few decoders are kept."""
    return model.beam_decoder(tuple((w, HOTWORD_BONUS) for w in hotwords))


def read_recording(path: str | None, max_seconds: float) -> np.ndarray:
    """16 kHz samples of an upload or recording, or a ``gr.Error`` saying why not."""
    if not path:
        raise gr.Error("Record or upload some audio first.")
    try:  # the length is checked from the header, before anything is decoded
        return asr.load_audio(path, max_seconds=max_seconds)
    except asr.AudioTooLong as error:
        lasts = f"lasts {error.seconds:.0f} s" if error.seconds else "is too long"
        limit = f"the limit is {max_seconds:g} s"
        raise gr.Error(f"The recording {lasts}; {limit}.") from None
    except asr.AudioError as error:
        reason = str(error).split(": ", 1)[-1]
        for name in (str(path), str(Path(path).parent)):  # no server paths in messages
            reason = reason.replace(name, Path(path).name)
        raise gr.Error(f"Cannot read that audio: {reason[:300]}") from None


def write_downloads(segments: list, name: str) -> list[str]:
    """SRT, VTT and JSON files of ``segments`` in a fresh temporary folder (Gradio
    copies them into its cache, which ``delete_cache`` clears)."""
    prune_downloads()
    folder = Path(tempfile.mkdtemp(dir=downloads_root()))
    paths = []
    for fmt in DOWNLOAD_FORMATS:
        path = folder / f"{name}.{fmt}"
        path.write_text(asr.render(segments, fmt, audio=name), encoding="utf-8")
        paths.append(str(path))
    return paths


def read_grammar_box(text: str | None) -> asr.Grammar | None:
    """The grammar typed in a grammar box (phrases one a line, templates or JSGF;
    see docs/grammars.md), or None for an empty box.

    Raises:
        gr.Error: the grammar cannot be used; the message names the line.
    """
    if not (text or "").strip():
        return None
    if len(text) > MAX_GRAMMAR_CHARS:
        raise gr.Error(
            f"Grammar: {len(text)} characters; at most {MAX_GRAMMAR_CHARS} are allowed."
        )
    try:
        return asr.parse_grammar(text, "grammar box")
    except asr.GrammarError as error:
        raise gr.Error(f"Grammar: {error}") from None


def describe_match(match) -> str:
    """'turn on the light (confidence 0.93; state=on)' or '[unk] (heard ...)'."""
    if match.is_unk:
        return (f"[unk] (out of grammar, confidence {match.confidence:.2f}; "
                f"heard {match.heard!r})")  # fmt: skip
    slots = "".join(f"; {k}={v}" for k, v in match.slots.items())
    return f"{match.text} (confidence {match.confidence:.2f}{slots})"


def match_recording(model: asr.ASRModel, wave: np.ndarray, grammar, name: str):
    """The File tab's outputs when a grammar is given: the whole recording is one
    command, matched to the grammar's sentences."""
    try:
        result = model.match(wave, grammar)
    except asr.GrammarError as error:
        raise gr.Error(f"Grammar: {error}") from None
    except asr.AudioError as error:
        raise gr.Error(str(error)) from None
    segment = asr.Segment(0.0, round(len(wave) / asr.SAMPLE_RATE, 3), result.text)
    return describe_match(result), [], write_downloads([segment], name), wave


def make_transcriber(cache: ModelCache, max_seconds: float = MAX_SECONDS):
    """The File tab's callback: (audio path, model, decoder, hotwords, grammar) ->
    (transcript, timestamp rows, download paths, 16 kHz audio of the last segment
    for pictures). With a grammar the transcript is the matched sentence. Work
    stops between segments once the client has gone (``client_gone``)."""

    def transcribe(
        path,
        model_path=None,
        method=DECODERS[0],
        hotwords="",
        grammar="",
        request: gr.Request = None,
    ):
        wave = read_recording(path, max_seconds)
        parsed = read_grammar_box(grammar)
        if parsed is not None:
            check_grammar_work(grammar, len(wave) / asr.SAMPLE_RATE)
            name = Path(path).stem or "recording"
            return match_recording(cache.get(model_path), wave, parsed, name)
        choice = DecodeChoice(method, parse_hotwords(hotwords))
        segments = []
        for segment in decode_segments(cache.get(model_path), wave, choice):
            if client_gone(request):
                raise gr.Error(
                    "The client has gone; the transcription was stopped.",
                    print_exception=False,
                )
            segments.append(segment)
        spoken = [s for s in segments if s.text]
        if not spoken:
            gr.Warning("No speech recognised: is the recording silent?")
        text = " ".join(s.text for s in spoken) or "(no speech recognised)"
        rows = [[w.start, w.end, w.word, round(w.confidence, 3)]
                for s in spoken for w in s.words]  # fmt: skip
        downloads = write_downloads(segments, Path(path).stem or "recording")
        return text, rows, downloads, last_segment(wave, spoken)

    return transcribe


def last_segment(wave: np.ndarray, spoken: list) -> np.ndarray:
    """The audio the model decoded last (what the pictures show), else all of it."""
    if not spoken:
        return wave
    rate = asr.SAMPLE_RATE
    return wave[round(spoken[-1].start * rate) : round(spoken[-1].end * rate)]
