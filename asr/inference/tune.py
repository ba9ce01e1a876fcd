"""``asr tune-decoder``: grid-search beam size, LM weight and word score on a dev
manifest. The acoustic model runs once; only the beam search is repeated, and timed
(CPU seconds per audio second), so a speed budget (``--max-rtf``) can rule out
beams too slow for live use. The best settings go to a JSON file that
``asr transcribe --decoder-config`` reads."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..audio.io import AudioError
from ..core import options
from ..core.cpu import add_threads_argument
from ..core.metrics import error_counts
from ..data.manifest import read_manifest
from ..decoding.beam import BeamSearchDecoder, DecodeConfig
from ..decoding.settings import beam_size_arg
from ..model.checkpoint import CheckpointError
from .recognizer import ASRModel, speech_waves
from .transcribe import load_model


def dev_posteriors(model: ASRModel, entries: list[dict], batch_size: int = 32):
    """The log posteriors of every speech segment of every readable entry: the
    segments ``model.transcribe`` decodes (``speech_waves``), so the settings are
    tuned on what users' audio goes through.

    Returns:
        (references, windows): windows[i] is a list of (1, T, V) tensors for entry i
        (none for an entry without speech).
    """
    refs, windows = [], []
    for entry in entries:
        try:
            waves = speech_waves(entry["audio"])
        except AudioError as error:
            print(f"warning: skipping {error}", file=sys.stderr)
            continue
        parts = []
        for wave in waves:
            log_probs, out_lens = model.posteriors([wave])
            parts.append(log_probs[:, : int(out_lens[0])].cpu())
        refs.append(entry["text"])
        windows.append(parts)
    return refs, windows


def score(decoder: BeamSearchDecoder | None, model, refs, windows) -> dict[str, int]:
    """Word and character error counts of one decoder over the cached posteriors."""
    hyps = []
    for parts in windows:
        texts = []
        for log_probs in parts:
            lens = log_probs.new_tensor([log_probs.shape[1]]).long()
            texts.extend(
                decoder(log_probs, lens) if decoder else model.greedy(log_probs, lens)
            )
        hyps.append(" ".join(t for t in texts if t))
    return error_counts(refs, hyps)


def tune(model, lm: Path, refs, windows, grid: dict[str, list]) -> list[dict]:
    """WER and beam-search real-time factor of every combination in ``grid``
    (DecodeConfig field -> values), best WER first.

    The real-time factor ("rtf") is the CPU seconds the search took per second of
    dev audio: 0.05 decodes 20x faster than real time on one core. It leaves out the
    acoustic model, which costs the same for every setting.
    """
    decoder = BeamSearchDecoder(model.tokenizer.vocab, lm, DecodeConfig())
    frames = sum(part.shape[1] for parts in windows for part in parts)
    audio_s = max(frames * model.frame_seconds, 1e-9)
    rows = []
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values, strict=True))
        decoder.configure(replace(DecodeConfig(), **settings))
        started = time.process_time()
        counts = score(decoder, model, refs, windows)
        rtf = (time.process_time() - started) / audio_s
        wer = counts["word_errors"] / max(counts["words"], 1)
        rows.append({**settings, "wer": wer, "rtf": rtf})
    return sorted(rows, key=lambda row: (row["wer"], row["beam_size"]))


def choose(rows: list[dict], max_rtf: float | None) -> dict:
    """The best-WER row that decodes within ``max_rtf`` (None: any speed).

    Raises:
        ValueError: every setting is slower than ``max_rtf``.
    """
    fast = [row for row in rows if max_rtf is None or row["rtf"] <= max_rtf]
    if not fast:
        fastest = min(row["rtf"] for row in rows)
        raise ValueError(
            f"no setting decodes within --max-rtf {max_rtf} "
            f"(the fastest took {fastest:.4f}); try smaller beams"
        )
    return fast[0]


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr tune-decoder", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Grid-search beam size, LM weight and word score on a dev manifest (never a "
        "test split), print the WER table and write the best settings as JSON."
    )
    parser.add_argument(
        "--manifest", type=Path, required=True, help="dev JSONL manifest"
    )
    parser.add_argument("--lm", type=Path, required=True, help="word n-gram LM (ARPA)")
    parser.add_argument(
        "--model", type=Path, default=None,
        help="checkpoint (default: $ASR_MODEL, else the shipped model)",
    )  # fmt: skip
    parser.add_argument(
        "--beam-sizes", type=beam_size_arg, nargs="+", default=[DecodeConfig.beam_size],
        help="beam sizes to try (hypotheses kept per frame)",
    )  # fmt: skip
    parser.add_argument(
        "--lm-weights",
        type=options.finite_float,
        nargs="+",
        default=[0.0, 0.5, 1.0, 2.0],
        help="LM weights to try (how much the LM's log probability counts)",
    )
    parser.add_argument(
        "--word-scores",
        type=options.finite_float,
        nargs="+",
        default=[-1.0, 0.0, 1.0],
        help="word scores to try (added per word: above 0 favours more words)",
    )
    parser.add_argument(
        "--max-rtf", type=options.positive_float, default=None,
        help="choose only settings whose beam search takes at most this many CPU "
        "seconds per audio second (e.g. 0.05: 20x real time on one core); "
        "default: any speed",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=Path("decoder.json"),
                        help="where the best settings go")  # fmt: skip
    parser.add_argument("--device", default="cpu", type=options.device,
                        help="torch device for the model")  # fmt: skip
    add_threads_argument(parser)
    return parser


def _lm_reference(lm: Path, output: Path) -> str:
    """The LM as the settings file names it: relative to the file's folder (its
    bare name when it lies beside it), so that the settings and the LM can move
    together and work from any working directory."""
    return os.path.relpath(lm.resolve(), output.resolve().parent)


def run(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.model, device=args.device, threads=args.threads)
        refs, windows = dev_posteriors(model, read_manifest(args.manifest))
        if not refs:
            raise ValueError(f"{args.manifest}: no readable utterance")
        grid = {"beam_size": args.beam_sizes, "lm_weight": args.lm_weights,
                "word_score": args.word_scores}  # fmt: skip
        rows = tune(model, args.lm, refs, windows, grid)
        best = choose(rows, args.max_rtf)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    greedy = score(None, model, refs, windows)
    print(f"greedy WER {100 * greedy['word_errors'] / max(greedy['words'], 1):.2f} %")
    print("beam_size  lm_weight  word_score  WER %     RTF")
    for row in rows:
        mark = "  <- chosen" if row is best else ""
        print(f"{row['beam_size']:>9}  {row['lm_weight']:>9}  {row['word_score']:>10}  "
              f"{100 * row['wer']:5.2f}  {row['rtf']:.4f}{mark}")  # fmt: skip
    settings = {k: v for k, v in best.items() if k not in ("wer", "rtf")}
    settings.update(lm=_lm_reference(args.lm, args.output), dev_wer=best["wer"],
                    dev_rtf=round(best["rtf"], 5), manifest=str(args.manifest),
                    model=str(args.model) if args.model else None)  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(settings, indent=1) + "\n")
    print(f"best settings written to {args.output}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
