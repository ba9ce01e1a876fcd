"""Prepare the Free Spoken Digit Dataset (FSDD): six speakers, digits 0-9, 50 takes
each.

    python recipes/fsdd/prepare.py --source ../shared/data/speech/fsdd   # local copy
    python recipes/fsdd/prepare.py                                       # download

Writes data/fsdd/{train,dev,test}.jsonl. The official split puts takes 0-4 in test;
of the official train takes 5-49, takes 5-9 are held out here as dev (for choosing
checkpoints; the test split is never looked at during training).

Any folder holding files named ``{digit}_{speaker}_{take}.wav|flac`` works as a
source: the GitHub repository (``recordings/*.wav``) or a FLAC repack.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import soundfile as sf
from num2words import num2words
from tqdm import tqdm

from asr.core.options import run_script
from asr.data.manifest import write_manifest
from asr.data.prepare import (
    download,
    extract,
    out_dir_option,
    recipe_main,
    source_option,
    url_option,
)

# the release this recipe was run on
COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{COMMIT}.zip"
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")
TEST_TAKES = range(0, 5)  # the dataset's official test split
DEV_TAKES = range(5, 10)  # held out from the official train split


def split_of(take: int) -> str:
    if take in TEST_TAKES:
        return "test"
    return "dev" if take in DEV_TAKES else "train"


def find_recordings(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.suffix in (".wav", ".flac")]
    return sorted(p for p in files if NAME.match(p.stem))


def make_entries(files: list[Path]) -> tuple[dict[str, list[dict]], list[str]]:
    """Manifest entries per split, and a message for every file that would not open."""
    splits, broken = {"train": [], "dev": [], "test": []}, []
    for path in tqdm(files, desc="fsdd", unit="file"):
        digit, speaker, take = NAME.match(path.stem).groups()
        try:
            info = sf.info(str(path))
            if info.frames == 0:
                raise ValueError("no audio samples")
        except (sf.LibsndfileError, RuntimeError, ValueError) as error:
            broken.append(f"{path}: {error}")
            continue
        splits[split_of(int(take))].append(
            {
                "audio": str(path.resolve()),
                "text": num2words(int(digit)),
                "duration": round(info.frames / info.samplerate, 3),
                "speaker": speaker,
                "take": int(take),
            }
        )
    return splits, broken


def prepare(source: Path | None, out_dir: Path, url: str = URL) -> dict[str, int]:
    if source is None:
        archive = download(url, out_dir / "download" / f"fsdd-{COMMIT[:8]}.zip")
        source = extract(archive, out_dir / "download")
    files = find_recordings(source)
    if not files:
        raise SystemExit(
            f"error: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}) under {source}"
        )
    splits, broken = make_entries(files)
    for message in broken:
        print(f"warning: skipped {message}", file=sys.stderr)
    for split, entries in splits.items():
        write_manifest(out_dir / f"{split}.jsonl", entries)
    counts = {split: len(entries) for split, entries in splits.items()}
    print(f"fsdd: {counts}, {len(broken)} broken files skipped -> {out_dir}")
    return counts


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("local copy of FSDD (default: download from GitHub)"),
            out_dir_option("data/fsdd"),
            url_option(URL),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
