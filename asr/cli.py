"""The ``asr`` command: one program with subcommands, like git. Each subcommand's
parser and work live in the module that owns it."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from importlib import import_module

from . import __version__
from .core.options import run_script

COMMANDS = {  # name -> (module under asr that owns it, one line of help)
    "transcribe": ("inference.transcribe", "transcribe audio files"),
    "train": ("training.train", "train a model on JSONL manifests"),
    "evaluate": ("inference.evaluate",
                 "score a model on a JSONL manifest (WER, CER)"),
    "lm": ("decoding.lm", "build and score n-gram language models for beam search"),
    "tune-decoder": ("inference.tune",
                     "grid-search beam size, LM weight and word score"),
    "average": ("training.checkpoint",
                "average the weights of several checkpoints"),
    "export": ("inference.export", "export the acoustic model as ONNX (float, int8)"),
    "pseudo-label": ("training.pseudolabel",
                     "label untranscribed speech with a Whisper teacher"),
    "adapt": ("synthesis.adapt",
              "adapt a model to a grammar or phrase list from text alone"),
}  # fmt: skip


def command_module(name: str):
    """The module behind ``asr NAME``, imported only when that command runs: each
    pays only for its own imports (``asr transcribe`` with an ONNX model, no torch)."""
    return import_module(f"{__package__}.{COMMANDS[name][0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asr", description="Speech to text with a BiRNN-CTC model."
    )
    parser.add_argument("--version", action="version", version=f"asr {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (_, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        if name == chosen:  # only the command that runs builds its full parser
            command_module(name).build_parser(sub)
    args = parser.parse_args(argv)
    # each command reports its own errors; Ctrl-C and a closed pipe end it quietly
    return run_script(command_module(args.command).run, args, errors=())


def entry() -> None:
    """The ``asr`` program: ``main``, then an exit that skips the interpreter's
    module-by-module teardown. With torch loaded that teardown alone takes about
    0.35 s (``python -c "import torch"`` runs 1.5 s, 1.15 s of it the import), a
    sixth of a short ``asr transcribe``. Exit handlers still run, and the standard
    streams are flushed first, so nothing written is lost; only the freeing of
    memory the operating system reclaims anyway is skipped."""
    try:
        code = main()
    except SystemExit as done:  # argparse: --help, --version, usage errors
        code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what sys.exit would run: temp folders, workers, ...
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing to keep
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    entry()
