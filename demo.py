"""Gradio web demo: live microphone recognition, file transcription and pictures.

    python demo.py                      # http://127.0.0.1:7860 with the shipped model
    python demo.py --model exp/run/best.pt --port 8000 --max-seconds 120

Tabs: **Live** streams the microphone into ``asr.StreamingRecognizer`` (greedy
partial text while the person speaks, final segments with the model's LM beam search
at pauses); **File** transcribes an upload or a recording (LM beam search by
default, greedy one click away), with a word table and SRT/VTT/JSON downloads;
**Pictures** draws the waveform, the MFCC features or a mel spectrogram, and the CTC
posteriors of the last utterance. Each model's LM is loaded in the background as
soon as the model is, once per process. It calls only the public ``asr`` API; bad
input shows a message in the page and the server keeps serving.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import socket
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

import asr
from asr import options
from asr.cpu import resolve_threads
from asr.decoding import check_hotwords
from asr.pictures import draw_pictures

MAX_SECONDS = 600  # longer recordings (file or live) are refused with a message
MAX_FILE_SIZE = "50mb"  # uploads above this are refused by Gradio itself
MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"
STREAM_EVERY_S = 0.5  # seconds of microphone audio per chunk sent to the server
HISTORY_S = 30.0  # seconds of live audio kept to draw the last utterance
SESSION_TTL_S = 3 * 3600  # an abandoned session's state is dropped after this
DECODERS = ("LM beam search", "greedy")  # the File tab's choices, default first
DOWNLOAD_FORMATS = ("srt", "vtt", "json")
HOTWORD_BONUS = 3.0  # beam-score bonus per hotword word (natural log units)


# -- models ------------------------------------------------------------------------


def list_models(models_dir: Path = MODELS_DIR, extra: str | None = None) -> list[str]:
    """Checkpoint paths for the picker: ``extra`` (given with --model) first, then
    ``default.pt``, then the other ``*.pt`` files of ``models_dir`` by name."""
    found = sorted(
        models_dir.glob("*.pt"), key=lambda p: (p.name != "default.pt", p.name)
    )
    paths = [str(p) for p in found]
    if extra:
        paths = [str(extra)] + [
            p for p in paths if Path(p).resolve() != Path(extra).resolve()
        ]
    return paths


def model_summary(path: str, card: Path = MODELS_DIR / "README.md") -> str:
    """The model card's paragraph for ``path``: the first paragraph after a heading
    that names the file, else the card's first paragraph."""
    if not card.exists():
        return f"`{Path(path).name}` (no model card at {card.name})"
    sections = re.split(r"^#+ .*$", card.read_text(encoding="utf-8"), flags=re.M)
    headings = re.findall(r"^#+ (.*)$", card.read_text(encoding="utf-8"), flags=re.M)
    chosen = sections[1] if len(sections) > 1 else sections[0]
    for heading, body in zip(headings, sections[1:], strict=True):
        if Path(path).name in heading:
            chosen = body
            break
    paragraphs = [p.strip() for p in chosen.split("\n\n") if p.strip()]
    return paragraphs[0] if paragraphs else f"`{Path(path).name}`"


class ModelCache:
    """Loaded models by name, so switching back and forth is instant. The page and
    the API know models by name (``digits.pt``), never by their path on the server.
    """

    def __init__(
        self, paths: list[str], device: str = "cpu", threads: int | None = None
    ):
        self.paths = paths  # checkpoint files; paths[0] is the default
        self.names = model_names(paths)  # what the picker offers, in the same order
        self.device = device
        self.threads = threads  # torch CPU threads (asr.cpu; None: $ASR_THREADS or 1)
        self.models: dict[str, asr.ASRModel] = {}
        self.lock = threading.Lock()

    def get(self, name: str | None) -> asr.ASRModel:
        """The model called ``name``; a newly loaded one starts reading its LM (if
        it ships decoder settings) in a background thread, so that requests need
        not wait for it (one that comes sooner waits for the load to finish)."""
        name = name or self.names[0]
        if name in self.paths:  # the server's own callers may name the file
            name = self.names[self.paths.index(name)]
        if name not in self.names:
            raise gr.Error(f"Unknown model {name[:40]!r}; choose one of {self.names}.")
        with self.lock:
            if name not in self.models:
                path = self.paths[self.names.index(name)]
                try:
                    self.models[name] = asr.load_model(
                        path, device=self.device, threads=self.threads
                    )
                except asr.CheckpointError:
                    raise gr.Error(f"Cannot load that model ({name}).") from None
                self.warm(self.models[name])
            return self.models[name]

    @staticmethod
    def warm(model: asr.ASRModel) -> threading.Thread:
        """Build ``model``'s default decoder (reading its LM) in the background."""
        thread = threading.Thread(
            target=lambda: model.default_decoder, name="asr-lm-load", daemon=True
        )
        thread.start()
        return thread


def model_names(paths: list[str]) -> list[str]:
    """Each checkpoint's file name, with its folder when two share a name."""
    names = [Path(p).name for p in paths]
    return [n if names.count(n) == 1 else f"{Path(p).parent.name}/{n}"
            for n, p in zip(names, paths, strict=True)]  # fmt: skip


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

    def set_grammar(self, text: str | None) -> None:
        """Decode finals with the grammar in ``text`` (empty: free transcription);
        a changed grammar restarts the recognizer, keeping the finals.

        Raises:
            gr.Error: the grammar cannot be used (the message says where).
        """
        text = text or ""
        if text != self.grammar_text:
            self.grammar_text, self.grammar = text, None
            self.grammar = read_grammar_box(text)
            self._start_recording()

    def _start_recording(self) -> None:
        self.recognizer = asr.StreamingRecognizer(self.model, grammar=self.grammar)
        self.partial = ""
        self.received_s = 0.0  # seconds of audio received in this recording
        self.history: deque = deque()  # (start s, rate Hz, float mono) chunks

    def on_chunk(self, chunk: tuple[int, np.ndarray]) -> tuple[str, str]:
        """Take one chunk from the browser.

        Args:
            chunk: (rate in Hz, (N,) or (N, C) int16 samples) as ``gr.Audio`` streams
                it; resampled to 16 kHz, never peak-normalised (silence stays silence).

        Returns:
            (partial text of the open segment, final segments one per line).
        """
        rate, samples = chunk
        if samples.size == 0:
            return self.partial, self.finals_text
        if self.received_s >= self.max_seconds:
            self.partial = (
                f"(recording limit of {self.max_seconds:g} s reached: press Stop)"
            )
            return self.partial, self.finals_text
        self._remember(int(rate), samples)
        self._apply(self.recognizer.accept(samples, int(rate)))
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
                self.partial = ""
                self.utterance = self._cut(event.start, event.end)
            else:
                self.partial = event.text

    def _remember(self, rate: int, samples: np.ndarray) -> None:
        mono = asr.prepare_audio(samples, rate, rate)  # int16 (N, C) -> float (N,)
        self.history.append((self.received_s, rate, mono))
        self.received_s += len(mono) / rate
        while self.history and self.history[0][0] < self.received_s - HISTORY_S:
            self.history.popleft()

    def _cut(self, start: float, end: float) -> np.ndarray | None:
        """16 kHz audio from ``start`` to ``end`` seconds, if still in the history."""
        pieces = [
            (t, r, x) for t, r, x in self.history if t + len(x) / r > start and t < end
        ]
        if not pieces or len({r for _, r, _ in pieces}) != 1:
            return None
        t0, rate = pieces[0][0], pieces[0][1]
        audio = np.concatenate([x for _, _, x in pieces])
        audio = audio[max(0, round((start - t0) * rate)) : round((end - t0) * rate)]
        return asr.prepare_audio(audio, rate) if len(audio) else None


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
    many or too long hotwords get a message (``asr.decoding.check_hotwords``)."""
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
    ships none), or that with hotwords boosted."""
    if choice.method not in DECODERS:
        method = choice.method[:40]
        raise gr.Error(f"Unknown decoding {method!r}; choose one of {DECODERS}.")
    if choice.method == "greedy":
        return list(model.transcribe_segments(wave, decoder="greedy", words=True))
    try:
        if choice.hotwords:
            decoder = beam_decoder(model, choice.hotwords)
        else:
            decoder = model.resolve_decoder("beam")
    except (ValueError, OSError) as error:  # no LM for this model, or a bad one
        reason = str(error).split(": ", 1)[-1][:200]
        raise gr.Error(f"LM beam search is not available here: {reason}") from None
    return list(model.transcribe_segments(wave, decoder=decoder, words=True))


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
    folder = Path(tempfile.mkdtemp(prefix="asr-demo-"))
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
    try:
        return asr.parse_grammar(text, "grammar box")
    except asr.GrammarError as error:
        raise gr.Error(f"Grammar: {error}") from None


def describe_match(match) -> str:
    """'turn on the light (confidence 0.93; state=on)' or '[unk] (heard ...)'."""
    if match.is_unk:
        return f"[unk] (out of grammar; heard {match.heard!r})"
    slots = "".join(f"; {k}={v}" for k, v in match.slots.items())
    return f"{match.text} (confidence {match.confidence:.2f}{slots})"


def match_recording(model: asr.ASRModel, wave: np.ndarray, grammar, name: str):
    """The File tab's outputs when a grammar is given: the whole recording is one
    command, matched to the grammar's sentences."""
    result = model.match(wave, grammar)
    segment = asr.Segment(0.0, round(len(wave) / asr.SAMPLE_RATE, 3), result.text)
    return describe_match(result), [], write_downloads([segment], name), wave


def make_transcriber(cache: ModelCache, max_seconds: float = MAX_SECONDS):
    """The File tab's callback: (audio path, model, decoder, hotwords, grammar) ->
    (transcript, timestamp rows, download paths, 16 kHz audio of the last segment
    for pictures). With a grammar the transcript is the matched sentence."""

    def transcribe(path, model_path=None, method=DECODERS[0], hotwords="", grammar=""):
        wave = read_recording(path, max_seconds)
        parsed = read_grammar_box(grammar)
        if parsed is not None:
            name = Path(path).stem or "recording"
            return match_recording(cache.get(model_path), wave, parsed, name)
        choice = DecodeChoice(method, parse_hotwords(hotwords))
        segments = decode_segments(cache.get(model_path), wave, choice)
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


# -- page --------------------------------------------------------------------------


def build_app(cache: ModelCache, max_seconds: float = MAX_SECONDS) -> gr.Blocks:
    """The page: model picker, then Live, File and Pictures tabs."""
    with gr.Blocks(title="asr: speech to text", delete_cache=(3600, 3600)) as app:
        gr.Markdown(
            "# asr: speech to text\n`default.pt` is the general English model; "
            "`digits.pt` recognises spoken digits only. The card below says more."
        )
        picker = gr.Dropdown(
            cache.names, value=cache.names[0], label="Model", elem_id="model"
        )
        card = gr.Markdown(model_summary(cache.paths[0]))
        utterance = gr.State(None, time_to_live=SESSION_TTL_S)  # 16 kHz audio to draw
        session = _live_tab(cache, max_seconds, picker, utterance)
        _file_tab(cache, max_seconds, picker, utterance)
        _pictures_tab(cache, picker, utterance)
        picker.change(model_summary, picker, card, api_name=False)
        # a new model for Live: the next chunk starts a session with it
        picker.change(lambda: None, None, session, api_name=False)
    return app


def _live_tab(cache: ModelCache, max_seconds: float, picker, utterance) -> gr.State:
    with gr.Tab("Live"):
        gr.Markdown(
            "Press **Record** and speak; text settles into final lines at pauses "
            "(partial text: greedy; final lines: the model's LM beam search)."
        )
        mic = gr.Audio(
            sources=["microphone"],
            streaming=True,
            type="numpy",
            label="Microphone",
            elem_id="live-audio",
            # drawing the live waveform costs CPU, and a busy page drops chunks
            waveform_options=gr.WaveformOptions(show_recording_waveform=False),
        )
        partial = gr.Textbox(
            label="Hearing…", elem_id="live-partial", interactive=False
        )
        finals = gr.Textbox(
            label="Final", lines=4, elem_id="live-finals", interactive=False
        )
        grammar = grammar_box("live-grammar")
        clear = gr.Button("Clear", elem_id="live-clear")
    session = gr.State(None, time_to_live=SESSION_TTL_S)

    def on_chunk(state, chunk, model_path, grammar_text):
        return live_chunk(state, chunk, model_path, cache, max_seconds, grammar_text)

    outputs = [session, partial, finals, utterance]
    mic.stream(
        on_chunk,
        [session, mic, picker, grammar],
        outputs,
        stream_every=STREAM_EVERY_S,
        time_limit=int(max_seconds) + 5,
        api_name="live_chunk",
    )
    mic.stop_recording(live_stop, session, outputs, api_name="live_stop")
    clear.click(lambda: (None, "", "", None), None, outputs, api_name=False)
    return session


def grammar_box(elem_id: str) -> gr.Textbox:
    return gr.Textbox(
        "", lines=3, elem_id=elem_id,
        label="Grammar (optional): one sentence a line, (a | b) alternatives, "
        "[optional] words, [unk] to allow 'none of these'",
        placeholder="turn (on | off){state} the light\n[unk]",
    )  # fmt: skip


def _file_tab(cache: ModelCache, max_seconds: float, picker, utterance) -> None:
    with gr.Tab("File"):
        audio = gr.Audio(
            sources=["upload", "microphone"],
            type="filepath",
            label="Speech",
            elem_id="file-audio",
        )
        with gr.Row():
            method = gr.Radio(list(DECODERS), value=DECODERS[0], label="Decoding")
            hotwords = gr.Textbox(
                "", label="Hotwords (comma-separated)", placeholder="seven, nine"
            )
        grammar = grammar_box("file-grammar")
        button = gr.Button("Transcribe", variant="primary")
        text = gr.Textbox(label="Transcript", elem_id="transcript")
        table = gr.Dataframe(
            headers=["start (s)", "end (s)", "word", "confidence"], label="Words"
        )
        files = gr.File(label="Downloads (SRT, VTT, JSON)", file_count="multiple")
    button.click(
        make_transcriber(cache, max_seconds),
        [audio, picker, method, hotwords, grammar],
        [text, table, files, utterance],
        api_name="transcribe",
    )


def _pictures_tab(cache: ModelCache, picker, utterance) -> None:
    with gr.Tab("Pictures") as tab:
        view = gr.Radio(["MFCC", "spectrogram"], value="MFCC", label="Features")
        button = gr.Button("Draw the last utterance")
        plots = [gr.Plot(label=name) for name in ("waveform", "features", "posteriors")]

    def draw(model_path, wave, choice):
        if wave is None or len(wave) == 0:
            gr.Info("Nothing to draw yet: transcribe a file or use the Live tab.")
            return None, None, None
        return draw_pictures(cache.get(model_path), wave, choice)

    for event in (button.click, tab.select, view.change):
        event(draw, [picker, utterance, view], plots, api_name=False)


def serve(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    concurrency_limit: int = 2,
    max_file_size: str = MAX_FILE_SIZE,
    block: bool = True,
) -> None:
    """Queue the app (``concurrency_limit`` requests at a time, the rest wait) and
    serve it; ``block=False`` returns at once, for tests."""
    app.queue(default_concurrency_limit=concurrency_limit).launch(
        server_name=host, server_port=port, share=share, max_file_size=max_file_size,
        prevent_thread_lock=not block, quiet=not block,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--model", default=None, help="checkpoint offered first (default: default.pt)")
    add("--device", default="cpu", type=options.device,
        help="torch device: cpu, cuda, cuda:1")  # fmt: skip
    add("--host", default="127.0.0.1", help="address to bind")
    add("--port", type=options.port, default=7860, help="port to serve on")
    add("--share", action="store_true", help="also open a public Gradio link")
    add("--max-seconds", type=options.positive_float, default=MAX_SECONDS,
        help="longest recording accepted (file or live), in seconds")  # fmt: skip
    add("--threads", type=options.positive_int, default=None,
        help="torch CPU threads each request computes with (default: $ASR_THREADS, "
        "else 1)")  # fmt: skip
    add("--concurrency-limit", type=options.positive_int, default=None,
        help="requests computed at once, the others wait in the queue (default: CPU "
        "cores // threads, so concurrent users never oversubscribe the "
        "cores)")  # fmt: skip
    return parser


def default_concurrency(threads: int) -> int:
    """Requests served at once: one per ``threads`` of the cores this process may
    use, at least one."""
    return max(1, len(os.sched_getaffinity(0)) // threads)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = list_models(MODELS_DIR, args.model)
    if not paths:
        parser.error(f"no checkpoint in {MODELS_DIR}; pass --model")
    try:
        threads = resolve_threads(args.threads)
    except ValueError as error:
        parser.error(str(error))
    cache = ModelCache(paths, args.device, threads)
    try:  # fail now, not at the first request, on a bad default; say why in full
        default = asr.load_model(paths[0], device=args.device, threads=threads)
    except asr.CheckpointError as error:
        parser.error(f"Cannot load that model: {error}")
    cache.models[cache.names[0]] = default
    cache.warm(default)
    if problem := port_problem(args.host, args.port):
        parser.error(problem)
    app = build_app(cache, args.max_seconds)
    limit = args.concurrency_limit or default_concurrency(threads)
    serve(app, args.host, args.port, args.share, limit)


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (busy, no such address)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as error:
        return f"cannot listen on {host}:{port} ({error.strerror or error})"
    return None


if __name__ == "__main__":
    main()
