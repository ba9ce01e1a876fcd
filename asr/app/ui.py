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

This module holds the page and the command line (``demo.py`` at the repository
root runs ``main``); what the tabs compute is in ``handlers.py`` and the models in
``models.py``.
"""

from __future__ import annotations

import argparse
import os
import socket

import gradio as gr
from starlette.middleware import Middleware

import asr

from ..core import options
from ..core.cpu import resolve_threads
from ..inference.pictures import draw_pictures
from .guard import RequestGuard
from .handlers import (
    DECODERS,
    MAX_SECONDS,
    live_chunk,
    live_stop,
    make_transcriber,
)
from .models import MODELS_DIR, ModelCache, list_models, model_summary

MAX_FILE_SIZE = "50mb"  # uploads above this are refused by Gradio itself
MAX_UPLOAD_BYTES = 55 * 2**20  # one upload request, all files together (guard.py)
MAX_JSON_BYTES = 2**20  # one API call's JSON body: a grammar box of 100 k characters
STREAM_EVERY_S = 0.5  # seconds of microphone audio per chunk sent to the server
SESSION_TTL_S = 3 * 3600  # an abandoned session's state is dropped after this
# Gradio draws a bar under a streaming microphone that shrinks over the event's time
# limit; over the 605 s of a Live stream it never visibly moves, so it says nothing
CSS = "#live-audio .streaming-bar { display: none; }"
LIVE_STREAMS = 16  # Live streams served at once, in their own pool: an open stream
#                    holds its slot until Stop or the time limit, even when idle


# -- page --------------------------------------------------------------------------


def build_app(cache: ModelCache, max_seconds: float = MAX_SECONDS) -> gr.Blocks:
    """The page: model picker, then Live, File and Pictures tabs."""
    with gr.Blocks(title="asr: speech to text", delete_cache=(3600, 3600)) as app:
        # the first screen holds what a person needs while speaking: the model's
        # card is one click away, so the Live tab's Final box stays in view at 720p
        with gr.Row(equal_height=True):
            gr.Markdown("## asr: speech to text", elem_id="title")
            picker = gr.Dropdown(
                cache.names, value=cache.names[0], label="Model", elem_id="model",
                scale=2,
            )  # fmt: skip
        with gr.Accordion("About this model", open=False, elem_id="model-card"):
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
        concurrency_id="live",  # File requests never wait for open streams
        concurrency_limit=LIVE_STREAMS,
        api_name="live_chunk",
    )
    mic.stop_recording(live_stop, session, outputs, api_name="live_stop")
    clear.click(lambda: (None, "", "", None), None, outputs, api_name=False)
    return session


def grammar_box(elem_id: str) -> gr.Textbox:
    return gr.Textbox(
        "", lines=3, elem_id=elem_id,
        label="Grammar (optional): one sentence a line, (a | b) alternatives, "
        "[optional] words, [unk] to allow 'none of these'; any size (docs/grammars.md)",
        placeholder="(empty: free transcription, no grammar)",
        info="Active: the text typed here, e.g. 'turn (on | off){state} the light' "
        "and '[unk]' on two lines. Empty: free transcription.",
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
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> None:
    """Queue the app (``concurrency_limit`` requests at a time, the rest wait) and
    serve it, each upload request holding at most ``max_upload_bytes`` in all;
    ``block=False`` returns at once, for tests."""
    guard = Middleware(RequestGuard, blocks=app, max_upload_bytes=max_upload_bytes,
                       max_json_bytes=MAX_JSON_BYTES)  # fmt: skip
    app.queue(default_concurrency_limit=concurrency_limit).launch(
        server_name=host, server_port=port, share=share, max_file_size=max_file_size,
        prevent_thread_lock=not block, quiet=not block, css=CSS,
        app_kwargs={"middleware": [guard]},
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
            # as the server itself (uvicorn) binds: a port whose last connections
            # are in TIME_WAIT, after a restart, is free to listen on
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return f"cannot listen on {host}:{port} ({error.strerror or error})"
    return None


if __name__ == "__main__":
    main()
