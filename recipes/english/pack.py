r"""Pack a subset of the training speech as small Opus files, split into parts that
each fit a size budget: how the recipe's data travels to a machine it cannot be
synthesized on (a rented GPU with no TTS voices, a size limit per transfer).

    python recipes/english/pack.py --hours 21.5 --part-mib 28.5 35.4 35.4 \
        --out-dir data/english_pack

Takes every real utterance of ``--train`` first (Kathleen, wake words, FSDD: the only
real voices), then synthetic ones in a seeded shuffle, up to ``--hours``; encodes each
to Ogg Opus (ffmpeg, libopus, speech mode, 8 kHz audio bandwidth kept) and fills the
parts in that order, each up to its ``--part-mib`` of audio. Writes:

    OUT/audio/t000000.opus ...      every packed utterance (encoding resumes here)
    OUT/partK/audio/*.opus          hard links to the part's files
    OUT/partK/train_partK.jsonl     its manifest (paths relative to the part)
    OUT/dev/audio/*.opus, OUT/dev.jsonl   --dev, packed whole at --dev-kbps

Unpack the parts and the dev set into one folder and concatenate the parts' manifests
into its train.jsonl: that folder is a recipe ``--data`` folder.
Utterances past the last part's budget are left out (the printout says how many
hours made it). Measured on the dev-synth slice with the default model of the time
(`exp/english_e1`): 12 kbps cost 1.4 points of greedy CER (36.0 -> 37.4 %), 8 kbps
(narrow band) 6.3.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from asr.core.options import run_script
from asr.data.manifest import read_manifest, write_manifest

# speech mode, 8 kHz of audio bandwidth kept, mono 16 kHz
OPUS = "-c:a libopus -application voip -cutoff 8000 -ac 1 -ar 16000".split()


class PackError(RuntimeError):
    """An input that ffmpeg cannot encode (the pack stops; what is done stays)."""


def encode(src: str, dst: Path, kbps: float) -> None:
    """One file to mono 16 kHz Ogg Opus at ``kbps`` (skipped when already there)."""
    if dst.exists() and dst.stat().st_size > 0:
        return
    tmp = dst.with_suffix(".part.opus")
    options = [*OPUS, "-b:a", f"{kbps}k"]
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", src, *options, str(tmp)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise PackError(f"{src}: cannot encode ({reason})")
    tmp.replace(dst)


def encode_all(
    rows: list[dict], audio_dir: Path, prefix: str, kbps: float, jobs: int, desc: str
) -> list[dict]:
    """Encode rows to audio_dir/<prefix>NNNNNN.opus; the rows, pointing there."""
    audio_dir.mkdir(parents=True, exist_ok=True)

    def one(item):
        i, row = item
        dst = audio_dir / f"{prefix}{i:06d}.opus"
        encode(row["audio"], dst, kbps)
        return dict(row, audio=str(dst))

    with ThreadPoolExecutor(jobs) as pool:
        return list(tqdm(pool.map(one, enumerate(rows)), total=len(rows), desc=desc))


def order(train: list[dict], seed: int, hours: float) -> list[dict]:
    """Real utterances first, then shuffled synthetic ones, up to ``hours``."""
    real = [r for r in train if r.get("source") != "synth"]
    synth = [r for r in train if r.get("source") == "synth"]
    random.Random(seed).shuffle(synth)
    picked, total = [], 0.0
    for row in real + synth:
        if total + row["duration"] > hours * 3600:
            break
        picked.append(row)
        total += row["duration"]
    return picked


def split(rows: list[dict], out_dir: Path, part_mib: list[float]) -> list[list[dict]]:
    """Fill parts in order, each up to its budget of audio bytes; hard-link files."""
    parts: list[list[dict]] = [[] for _ in part_mib]
    k, used = 0, 0
    for row in rows:
        size = Path(row["audio"]).stat().st_size
        while k < len(parts) and used + size > part_mib[k] * 2**20:
            k, used = k + 1, 0
        if k == len(parts):
            break
        parts[k].append(row)
        used += size
    for k, part in enumerate(parts, 1):
        folder = out_dir / f"part{k}"
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        linked = []
        for row in part:
            link = folder / "audio" / Path(row["audio"]).name
            if not link.exists():
                os.link(row["audio"], link)
            linked.append(dict(row, audio=str(link)))
        write_manifest(folder / f"train_part{k}.jsonl", linked)
    return parts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--train",
        default="data/english/train.jsonl",
        help="training manifest to pack from (default: %(default)s)",
    )
    p.add_argument(
        "--dev",
        default="data/english/dev.jsonl",
        help="dev manifest, packed whole into OUT/dev.jsonl (default: %(default)s)",
    )
    p.add_argument(
        "--out-dir", default="data/english_pack", help="where (default: %(default)s)"
    )
    p.add_argument(
        "--hours",
        type=float,
        default=1000.0,
        help="audio to encode, real speech first (default: %(default)s, i.e. all)",
    )
    p.add_argument(
        "--kbps",
        type=float,
        default=12,
        help="Opus bitrate of the training "
        "audio (default: %(default)s; 8 and below drops to narrow band)",
    )
    p.add_argument(
        "--dev-kbps", type=float, default=16, help="dev audio (default: %(default)s)"
    )
    p.add_argument(
        "--part-mib",
        type=float,
        nargs="+",
        default=[1e6],
        help="audio MiB per part, one value per part: one per transfer to a machine "
        "with a size limit (default: one part without limit)",
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic shuffle (default: 0)")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count(),
        help="ffmpeg processes at a time (default: CPU count)",
    )
    args = p.parse_args(argv)

    if shutil.which("ffmpeg") is None:
        sys.exit("error: pack.py needs ffmpeg (with libopus) on PATH")
    out_dir = Path(args.out_dir)
    train, dev = read_manifest(args.train), read_manifest(args.dev)
    picked = order(train, args.seed, args.hours)
    try:
        rows = encode_all(picked, out_dir / "audio", "t", args.kbps, args.jobs, "train")
        dev_rows = encode_all(
            dev, out_dir / "dev" / "audio", "d", args.dev_kbps, args.jobs, "dev"
        )
    except PackError as error:  # files already encoded stay; a rerun resumes
        sys.exit(f"error: {error}")
    write_manifest(out_dir / "dev.jsonl", dev_rows)
    parts = split(rows, out_dir, args.part_mib)
    for k, part in enumerate(parts, 1):
        hours = sum(r["duration"] for r in part) / 3600
        print(f"part{k}: {len(part)} utterances, {hours:.2f} h")
    packed = sum(len(p) for p in parts)
    hours = sum(r["duration"] for p in parts for r in p) / 3600
    print(f"packed {packed} of {len(rows)} encoded utterances, {hours:.2f} h")


if __name__ == "__main__":
    sys.exit(run_script(main))
