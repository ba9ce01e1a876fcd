"""Score a model on a manifest: WER and CER over normalised text, plus the
per-utterance hypotheses (``evaluate``), and with the CTC loss too the dev figures
training logs after each epoch (``dev_scores``). ``asr evaluate MANIFEST`` prints
the figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..audio.io import AudioError
from ..core import options
from ..core.cpu import add_threads_argument
from ..core.metrics import error_counts
from ..core.text import BLANK
from ..data.dataset import AudioDataset, collate
from ..data.manifest import read_manifest
from ..decoding.settings import Decoder, add_decoder_arguments, decoder_for_args
from ..model.checkpoint import CheckpointError
from .recognizer import ASRModel, speech_waves
from .transcribe import load_model


def evaluate(
    model: ASRModel,
    entries: list[dict],
    batch_size: int = 32,
    progress: bool = True,
    decoder: Decoder = "auto",
) -> dict:
    """Transcribe every entry and score it. Each is cut into the voice-activity
    segments ``ASRModel.transcribe`` decodes (``speech_waves``), so the figures are
    those of the path users' audio takes (and of ``asr tune-decoder``); segments
    of several entries are decoded in batches. ``decoder`` as in
    ``ASRModel.transcribe``: by default the model's LM beam search if it ships
    one, else greedy.

    Returns:
        {"wer", "cer", "utterances", "failed", "word_errors", "words", "char_errors",
        "chars", "results": [{"audio", "ref", "hyp"}, ...]}; files whose audio
        cannot be read are counted in "failed" and left out of the scores.
    """
    results, failed = [], 0
    bar = tqdm(
        total=len(entries),
        desc="decode",
        unit="utt",
        disable=None if progress else True,
    )
    for start in range(0, len(entries), batch_size):
        chunk, waves = [], []
        for entry in entries[start : start + batch_size]:
            try:
                windows = speech_waves(entry["audio"])
            except AudioError as error:
                print(f"warning: skipping {error}", file=sys.stderr)
                failed += 1
                continue
            chunk.append((entry, len(waves), len(windows)))
            waves.extend(windows)
        texts = model.transcribe_batch(waves, batch_size, decoder) if waves else []
        for entry, first, count in chunk:
            hyp = " ".join(t for t in texts[first : first + count] if t)
            results.append({"audio": entry["audio"], "ref": entry["text"], "hyp": hyp})
        bar.update(len(entries[start : start + batch_size]))
    bar.close()
    counts = error_counts([r["ref"] for r in results], [r["hyp"] for r in results])
    return {
        "wer": counts["word_errors"] / max(counts["words"], 1),
        "cer": counts["char_errors"] / max(counts["chars"], 1),
        "utterances": len(results),
        "failed": failed,
        **counts,
        "results": results,
    }


@torch.no_grad()
def dev_scores(model: ASRModel, entries: list[dict], batch_size: int = 32) -> dict:
    """What training logs for the dev set: greedy WER and CER (``evaluate``) and
    the CTC loss per utterance, summed over each batch of ``batch_size``.

    Returns:
        {"dev_loss", "dev_wer", "dev_cer"}.
    """
    report = evaluate(model, entries, batch_size, progress=False, decoder="greedy")
    model.encoder.eval()
    ctc_loss = torch.nn.CTCLoss(blank=BLANK, reduction="sum", zero_infinity=True)
    loss_sum, count = 0.0, 0
    dataset = AudioDataset(entries, model.tokenizer)
    for start in range(0, len(dataset), batch_size):
        end = min(start + batch_size, len(dataset))
        batch = collate([dataset[i] for i in range(start, end)])
        if not len(batch):
            continue
        batch = batch.to(model.device)
        log_probs, out_lens = model.encoder(
            *model.frontend(batch.waves, batch.wave_lens)
        )
        # (B, T, V) -> (T, B, V) as CTCLoss wants
        loss_sum += ctc_loss(
            log_probs.transpose(0, 1), batch.targets, out_lens, batch.target_lens
        ).item()
        count += len(batch)
    return {"dev_loss": loss_sum / max(count, 1), "dev_wer": report["wer"],
            "dev_cer": report["cer"]}  # fmt: skip


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr evaluate", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = "Transcribe a JSONL manifest and print its WER and CER."
    parser.add_argument(
        "manifest", type=Path, help="JSONL manifest: audio, text, duration"
    )
    parser.add_argument(
        "--model", type=Path, default=None,
        help="checkpoint to score "
        "(default: $ASR_MODEL, else the shipped default model)",
    )  # fmt: skip
    parser.add_argument(
        "--device",
        default="cpu",
        type=options.device,
        help="torch device: cpu, cuda, cuda:1",
    )
    parser.add_argument(
        "--batch-size",
        type=options.positive_int,
        default=32,
        help="utterances per batch",
    )
    parser.add_argument(
        "--output", type=Path, default=None,
        help="write the scores and every (ref, hyp) pair to this JSON file",
    )  # fmt: skip
    add_decoder_arguments(parser, greedy=True)
    add_threads_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.model, device=args.device, threads=args.threads)
        entries = read_manifest(args.manifest)
        decoder = decoder_for_args(args, model)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(model, entries, batch_size=args.batch_size, decoder=decoder)
    print(
        f"WER {100 * report['wer']:.2f} % "
        f"({report['word_errors']}/{report['words']} words)  "
        f"CER {100 * report['cer']:.2f} % "
        f"({report['char_errors']}/{report['chars']} chars)  "
        f"utterances {report['utterances']}  failed {report['failed']}"
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if report["failed"]:  # a score over part of the set is no score of the set
        print(
            f"error: {report['failed']} of {len(entries)} utterances could not be "
            "read (listed above); the figures leave them out",
            file=sys.stderr,
        )
        return 1
    if not report["utterances"]:
        print(f"error: {args.manifest}: no utterances to score", file=sys.stderr)
        return 1
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
