"""Prepare a Mozilla Common Voice English release (CC0): crowd-sourced read
sentences, MP3 clips with TSV metadata.

    python recipes/commonvoice/prepare.py --source /data/cv-corpus-17.0-2024-03-15/en

Common Voice cannot be downloaded without accepting its terms on
https://commonvoice.mozilla.org/en/datasets, so this recipe needs ``--source``: the
extracted release's language folder (``train.tsv``, ``dev.tsv``, ``test.tsv``,
``clips/*.mp3``) or the folder above it. ``--archive`` takes the downloaded
``.tar.gz`` instead and extracts it first.

Writes data/commonvoice/{train,dev,test}.jsonl from the release's own split TSVs.
The MP3 clips are read in place by soundfile (libsndfile >= 1.1 decodes MP3).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from asr.core.options import run_script
from asr.data.prepare import (
    extract,
    out_dir_option,
    probe_entries,
    recipe_main,
    source_option,
    write_splits,
)

SPLITS = ("train", "dev", "test")


def language_folder(source: Path, language: str) -> Path | None:
    """The folder holding train.tsv: ``source`` itself or ``*/<language>`` below it."""
    if (source / "train.tsv").exists():
        return source
    found = sorted(source.glob(f"*/{language}/train.tsv")) + sorted(
        source.glob(f"{language}/train.tsv")
    )
    return found[-1].parent if found else None


def read_tsv(folder: Path, split: str) -> list[dict]:
    """Candidate entries of one split TSV (columns client_id, path, sentence, ...)."""
    path = folder / f"{split}.tsv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        {"audio": str(folder / "clips" / row["path"]), "text": row["sentence"],
         "speaker": row.get("client_id", "")[:16], "prompt_id": Path(row["path"]).stem}
        for row in rows if row.get("path") and row.get("sentence")
    ]  # fmt: skip


def prepare(source: Path | None, out_dir: Path, archive: Path | None = None,
            language: str = "en") -> dict[str, int]:  # fmt: skip
    if source is None and archive is None:
        raise SystemExit(
            "error: Common Voice needs --source (or --archive): download a "
            "release from https://commonvoice.mozilla.org/en/datasets"
        )
    if archive is not None:
        source = extract(archive, out_dir / "download")
    folder = language_folder(Path(source), language)
    if folder is None:
        raise SystemExit(f"error: no Common Voice {language}/train.tsv under {source}")
    splits, broken = {}, []
    for split in SPLITS:
        splits[split], unreadable = probe_entries(
            read_tsv(folder, split), f"cv {split}"
        )
        broken += unreadable
    return write_splits(out_dir, "commonvoice", splits, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("extracted release: cv-corpus-*/en or the folder above it"),
            (
                "--archive",
                {
                    "type": Path,
                    "default": None,
                    "help": "the downloaded cv-corpus-*-en.tar.gz, extracted first",
                },
            ),
            ("--language", {"default": "en", "help": "language folder of the release"}),
            out_dir_option("data/commonvoice", "where the manifests go"),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
