"""The ``asr`` command: one program with subcommands, like git. Each subcommand's
parser and work live in the module that owns it."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .decoding import lm
from .inference import evaluate, export, transcribe, tune
from .synthesis import adapt
from .training import checkpoint, pseudolabel, train

COMMANDS = {
    "transcribe": (transcribe, "transcribe audio files"),
    "train": (train, "train a model on JSONL manifests"),
    "evaluate": (evaluate, "score a model on a JSONL manifest (WER, CER)"),
    "lm": (lm, "build and score n-gram language models for beam search"),
    "tune-decoder": (tune, "grid-search beam size, LM weight and word score"),
    "average": (checkpoint, "average the weights of several checkpoints"),
    "export": (export, "export frontend + encoder as TorchScript, optionally int8"),
    "pseudo-label": (pseudolabel, "label untranscribed speech with a Whisper teacher"),
    "adapt": (adapt, "adapt a model to a grammar or phrase list from text alone"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asr", description="Speech to text with a BiRNN-CTC model."
    )
    parser.add_argument("--version", action="version", version=f"asr {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        module.build_parser(sub)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0].run(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `asr transcribe ... | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python exits
        return 141  # 128 + SIGPIPE, as a shell reports a process killed by it


if __name__ == "__main__":
    sys.exit(main())
