r"""Choose the VAD's pause and padding lengths on a dev set, never a test set.

    python recipes/english/tune_vad.py data/english/dev.jsonl \
        --pauses 0.3 0.5 0.8 --paddings 0.1 0.3 0.5

The dev utterances are joined into one long recording, separated by ``--gap`` seconds
of faint noise (as between sentences of a real recording), and transcribed the way
``asr transcribe`` does a long file: cut at pauses by the VAD, segments decoded with
the model's shipped decoder (its LM beam search; ``--decoder greedy`` for greedy).
Each (pause, padding) pair gets the WER of the whole transcript against the joined
references; the table is printed best first.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.audio.vad import VadConfig
from asr.core.metrics import wer
from asr.core.options import run_script
from asr.data.manifest import read_manifest
from asr.inference.transcribe import load_model

NOISE_DBFS = -60.0  # level of the noise between utterances


def long_recording(entries: list[dict], gap_s: float, seed: int = 0) -> np.ndarray:
    """The utterances in order, ``gap_s`` of faint white noise between them."""
    rng = np.random.default_rng(seed)
    scale = 10 ** (NOISE_DBFS / 20)
    gap = int(gap_s * SAMPLE_RATE)
    pieces = []
    for entry in entries:
        pieces += [load_audio(entry["audio"]), rng.normal(0, scale, gap)]
    return np.concatenate(pieces).astype(np.float32)


def sweep(
    model, samples, reference: str, pauses, paddings, decoder="auto"
) -> list[dict]:
    """WER of the joined transcript for every (pause, padding), best first."""
    decoder = model.resolve_decoder(decoder)  # the LM is read once, not per setting
    rows = []
    for pause, padding in itertools.product(pauses, paddings):
        vad = VadConfig(min_silence_s=pause, padding_s=padding)
        segments = list(
            model.transcribe_segments(samples, SAMPLE_RATE, vad=vad, decoder=decoder)
        )
        hyp = " ".join(s.text for s in segments if s.text)
        rows.append({"pause_s": pause, "padding_s": padding, "segments": len(segments),
                     "wer": wer(reference, hyp)})  # fmt: skip
    return sorted(rows, key=lambda r: r["wer"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "manifest", type=Path, help="dev JSONL manifest (not a test set)"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint (default: shipped)"
    )
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.3, 0.5, 0.8],
                        help="VadConfig.min_silence_s values to try")  # fmt: skip
    parser.add_argument("--paddings", type=float, nargs="+", default=[0.1, 0.3, 0.5],
                        help="VadConfig.padding_s values to try")  # fmt: skip
    parser.add_argument(
        "--gap", type=float, default=1.0, help="seconds between utterances"
    )
    parser.add_argument("--decoder", choices=["auto", "greedy"], default="auto",
                        help="auto: the model's shipped decoder (LM beam search if it "
                        "ships one, as asr transcribe); greedy: best path")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model)
        entries = read_manifest(args.manifest)
    except (ValueError, OSError) as error:  # CheckpointError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    samples = long_recording(entries, args.gap)
    reference = " ".join(e["text"] for e in entries)
    print(f"{len(entries)} utterances, {len(samples) / SAMPLE_RATE / 60:.1f} min, "
          f"decoder {args.decoder}")  # fmt: skip
    print("pause_s  padding_s  segments  WER %")
    rows = sweep(model, samples, reference, args.pauses, args.paddings, args.decoder)
    for row in rows:
        print(f"{row['pause_s']:>7}  {row['padding_s']:>9}  {row['segments']:>8}  "
              f"{100 * row['wer']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
