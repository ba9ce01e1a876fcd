"""Audio to text with a trained checkpoint: the ``ASRModel`` returned by
``load_model`` and the ``asr transcribe`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core import options
from ..core.cpu import add_threads_argument
from ..core.files import MODELS_DIR, CheckpointError
from ..core.text import CharTokenizer
from ..decoding.match import add_grammar_arguments
from ..decoding.settings import (
    add_decoder_arguments,
    decoder_config_path,
    decoder_for_args,
    describe_decoder,
)
from .batch import match_files, transcribe_files
from .exported import is_exported, load_onnx
from .output import FORMATS, output_formats
from .recognizer import ASRModel

DEFAULT_MODEL = MODELS_DIR / "default.pt"  # the shipped model; $ASR_MODEL overrides it


def load_model(
    path: str | Path | None = None, device: str = "cpu", threads: int | None = None
) -> ASRModel:
    """Load a checkpoint written by ``asr train``, or an ONNX file written by
    ``asr export`` (run by ONNX Runtime, without importing torch).

    Args:
        path: checkpoint or .onnx file, or a folder NAME holding NAME.pt (``asr
            adapt``); None loads $ASR_MODEL or the shipped default model.
        device: "cpu", "cuda", "cuda:1", ... (an ONNX model: "cpu" only)
        threads: CPU threads for this process (``asr.core.cpu.set_threads``:
            None means $ASR_THREADS, else 1).

    Raises:
        CheckpointError: the file is missing, truncated, unsafe or incompatible.
    """
    path = Path(path or os.environ.get("ASR_MODEL") or DEFAULT_MODEL)
    if path.is_dir():  # a model folder (asr adapt): NAME/NAME.pt
        path = path / f"{path.name}.pt"
    if is_exported(path):  # an ONNX file from `asr export`: no torch
        return load_onnx(path, threads=threads).to(device)
    from ..audio.features import Frontend  # torch from here on
    from ..core.cpu import set_threads
    from ..model.checkpoint import configs_from_state, load_checkpoint
    from ..model.encoder import Encoder

    threads = set_threads(threads)
    state = load_checkpoint(path)
    model_config, frontend_config = configs_from_state(state, path)
    encoder = Encoder(model_config)
    try:
        encoder.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: weights do not match its config ({error})"
        ) from None
    tokenizer = CharTokenizer(state["vocab"])
    model = ASRModel(Frontend(frontend_config), encoder, tokenizer).to(device)
    sidecar = decoder_config_path(path)
    model.decoder_config = sidecar if sidecar.is_file() else None
    model.threads = threads
    return model


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr transcribe", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Transcribe audio files (wav, flac, ogg, mp3; more with ffmpeg)."
    )
    parser.add_argument(
        "files", nargs="+", metavar="INPUT",
        help="audio files, directories (searched recursively) and glob patterns",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, default=None,
        help="checkpoint to use (default: $ASR_MODEL, else the shipped default model)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", type=options.device,
                        help="torch device: cpu, cuda, cuda:1")  # fmt: skip
    parser.add_argument(
        "--output-format", default="txt", type=output_formats,
        help=f"comma-separated formats out of {','.join(FORMATS)} (any case), or "
        "all; several formats, and srt/vtt of several inputs, need --output-dir; json "
        "of several inputs on stdout is JSON Lines",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", type=Path, default=None,
        help="write <name>.<format> per input here (directories keep their layout); "
        "default: print to stdout",
    )  # fmt: skip
    parser.add_argument(
        "--word-timestamps", action="store_true",
        help="time every word: one 'start end confidence word' line per word in txt, "
        "a row per word in tsv, a words list (start, end, confidence) per segment in "
        "json, cue timestamps in vtt (srt cannot hold them)",
    )  # fmt: skip
    parser.add_argument(
        "--min-confidence", type=options.unit_interval, default=0.0,
        help="drop the text of segments whose mean best-label posterior is below this "
        "(noise and tones; 0 keeps everything; see docs/reliability.md)",
    )  # fmt: skip
    options.add_verbosity_arguments(parser)
    add_decoder_arguments(parser, greedy=True)
    add_grammar_arguments(parser)
    add_threads_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Transcribe every input; report each bad one on stderr and go on.

    Returns:
        0 when every file was transcribed, 1 when any failed, 2 for a bad
        checkpoint or bad options.
    """
    try:
        model = load_model(args.model, device=args.device, threads=args.threads)
        if getattr(args, "grammar", None) is not None:  # a grammar is its own decoder
            return match_files(model, [str(f) for f in args.files], args)
        decoder = decoder_for_args(args, model)
        model.min_confidence = getattr(args, "min_confidence", 0.0)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    formats = getattr(args, "output_format", ["txt"])
    output_dir = getattr(args, "output_dir", None)
    if len(formats) > 1 and output_dir is None:
        print(
            "error: several --output-format values need --output-dir", file=sys.stderr
        )
        return 2
    if getattr(args, "verbose", False):
        print(f"model: {args.model or 'default'}; decoding: "
              f"{describe_decoder(decoder)}", file=sys.stderr)  # fmt: skip
    words = getattr(args, "word_timestamps", False)
    return transcribe_files(
        model, [str(f) for f in args.files], formats, output_dir,
        decoder=decoder, words=words, quiet=getattr(args, "quiet", False),
    )  # fmt: skip


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
