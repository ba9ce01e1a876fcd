"""Prepare LJ Speech 1.1 (public domain): one US English speaker reading non-fiction
books, 13,100 clips, 24 h.

    python recipes/ljspeech/prepare.py --source /data/LJSpeech-1.1   # local copy
    python recipes/ljspeech/prepare.py                               # download (2.6 GB)

Writes data/ljspeech/{train,dev,test}.jsonl with the normalised transcription column
of ``metadata.csv`` (numbers and abbreviations spelled out). LJ Speech has no official
split; clips go to train/dev/test by a hash of their id (about 90/5/5 %).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from asr.core.options import run_script
from asr.data.prepare import (
    fetch,
    hash_split,
    out_dir_option,
    probe_entries,
    recipe_main,
    source_option,
    url_option,
    write_splits,
)

# keithito's address and the sha256 that torchaudio.datasets.LJSPEECH checks
URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
DEV_PERCENT, TEST_PERCENT = 5, 5  # of the clips; the rest is train


def split_of(clip_id: str) -> str:
    return hash_split(clip_id, DEV_PERCENT, TEST_PERCENT)


def find_clips(source: Path) -> list[dict]:
    """Candidate entries from ``metadata.csv`` (``id|text|normalised text``), read the
    way torchaudio.datasets.LJSPEECH reads it (no quoting: the text holds quotes)."""
    metadata = next(iter(sorted(Path(source).rglob("metadata.csv"))), None)
    if metadata is None:
        return []
    with metadata.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))
    return [
        {"audio": str(metadata.parent / "wavs" / f"{row[0]}.wav"),
         "text": row[2] if len(row) > 2 and row[2] else row[1],
         "speaker": "LJ", "prompt_id": row[0]}
        for row in rows if len(row) >= 2
    ]  # fmt: skip


def prepare(source: Path | None, out_dir: Path, url: str = URL,
            sha256: str | None = SHA256) -> dict[str, int]:  # fmt: skip
    if source is None:
        source = fetch(url, out_dir / "download", sha256=sha256)
    candidates = find_clips(Path(source))
    if not candidates:
        raise SystemExit(f"error: no LJ Speech metadata.csv under {source}")
    good, broken = probe_entries(candidates, "ljspeech")
    splits = {"train": [], "dev": [], "test": []}
    for entry in good:
        splits[split_of(entry["prompt_id"])].append(entry)
    return write_splits(out_dir, "ljspeech", splits, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("LJSpeech-1.1 folder (default: download from keithito.com)"),
            out_dir_option("data/ljspeech"),
            url_option(URL),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
