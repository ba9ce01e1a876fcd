"""Gradio web demo: record or upload speech and read the transcript.

    python demo.py                      # http://127.0.0.1:7860 with the shipped model
    python demo.py --model exp/run/best.pt --port 8000

It calls only the public ``asr`` API. A bad recording shows a message in the page
and the server keeps serving.
"""

from __future__ import annotations

import argparse

import gradio as gr

import asr

MAX_SECONDS = 600  # longer recordings are refused with a message
MAX_FILE_SIZE = "50mb"  # uploads above this are refused by Gradio itself


def make_transcriber(model: asr.ASRModel, max_seconds: float = MAX_SECONDS):
    """The callback behind the Transcribe button: a file path in, text out."""

    def transcribe(path: str | None) -> str:
        if not path:
            raise gr.Error("Record or upload some audio first.")
        try:
            wave = asr.load_audio(path)
        except asr.AudioError as error:
            raise gr.Error(f"Cannot read that audio: {error.args[0].split(': ', 1)[-1]}")
        seconds = len(wave) / asr.SAMPLE_RATE
        if seconds > max_seconds:
            raise gr.Error(f"The recording lasts {seconds:.0f} s; the limit is {max_seconds} s.")
        text = model.transcribe(wave)
        return text or "(no speech recognised)"

    return transcribe


def build_app(model: asr.ASRModel, max_seconds: float = MAX_SECONDS) -> gr.Blocks:
    with gr.Blocks(title="asr: speech to text") as app:
        gr.Markdown(
            "# asr: speech to text\n"
            "Record from the microphone or upload a file (wav, flac, ogg, mp3, webm, m4a), "
            "then press **Transcribe**. The shipped model recognises spoken digits."
        )
        audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speech")
        button = gr.Button("Transcribe", variant="primary")
        text = gr.Textbox(label="Transcript", elem_id="transcript")
        button.click(make_transcriber(model, max_seconds), audio, text, api_name="transcribe")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model", default=None, help="checkpoint (default: shipped model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--share", action="store_true", help="open a public Gradio link")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                        help="longest recording accepted, in seconds")  # fmt: skip
    args = parser.parse_args(argv)
    app = build_app(asr.load_model(args.model), args.max_seconds)
    app.queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, share=args.share,
        max_file_size=MAX_FILE_SIZE,
    )  # fmt: skip


if __name__ == "__main__":
    main()
