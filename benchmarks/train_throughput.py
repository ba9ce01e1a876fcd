"""Training throughput benchmark: audio seconds trained per wall second, and the
share of step time spent waiting for the DataLoader, for one model size on real
audio, with 0, 1 and 2 loader workers measured in the same run (0 workers is the
baseline: the main process reads audio itself).

    python benchmarks/train_throughput.py \\
        --manifest /work/shared/data/speech/kathleen/manifest.jsonl --utterances 96

Prints a Markdown table (and writes it to --out when given). Each configuration
trains one epoch over the same subset with ``asr.train.train`` itself, so the figures
are those of the real loop: bucketing, frontend, forward, CTC, backward, AdamW. No
checkpoint is saved mid-epoch and no dev set is decoded.
"""

from __future__ import annotations

import argparse
import csv
import logging
import platform
import tempfile
import time
from pathlib import Path

import torch

from asr.data import read_manifest, write_manifest
from asr.model import ModelConfig
from asr.train import TrainConfig, train


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def subset(manifest: str, count: int) -> list[dict]:
    """``count`` utterances spread evenly over the manifest (deterministic)."""
    entries = read_manifest(manifest)
    stride = max(1, len(entries) // count)
    return entries[::stride][:count]


def measure(cfg: TrainConfig) -> dict:
    started = time.time()
    train(cfg)
    with (Path(cfg.out_dir) / "metrics.csv").open() as f:
        row = next(csv.DictReader(f))
    return {
        "audio_sec_per_sec": float(row["audio_sec_per_sec"]),
        "data_wait_frac": float(row["data_wait_frac"]),
        "wall_s": time.time() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest of speech")
    parser.add_argument("--utterances", type=int, default=96, help="subset size")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    entries = subset(args.manifest, args.utterances)
    audio_s = sum(e["duration"] for e in entries)
    model = ModelConfig()
    lines = [
        f"Model: default `ModelConfig()` ({model.num_layers}x{model.hidden_size} "
        f"Bi{model.rnn_type.upper()}); data: {len(entries)} utterances "
        f"({audio_s:.0f} s) of `{args.manifest}`, batch size {args.batch_size}, "
        f"{args.precision}, one epoch; device: {device_name(args.device)}; "
        f"torch {torch.__version__}.",
        "",
        "| loader workers | audio s / s | data wait (share of step time) | wall s |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "subset.jsonl"
        write_manifest(manifest, entries, relative_to_manifest=False)
        for workers in args.workers:
            cfg = TrainConfig(
                train_manifest=str(manifest), out_dir=f"{tmp}/w{workers}", epochs=1,
                batch_size=args.batch_size, num_workers=workers, device=args.device,
                precision=args.precision, save_every_steps=0, model=model,
            )  # fmt: skip
            result = measure(cfg)
            lines.append(
                f"| {workers} | {result['audio_sec_per_sec']:.1f} | "
                f"{100 * result['data_wait_frac']:.1f} % | {result['wall_s']:.0f} |"
            )
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
