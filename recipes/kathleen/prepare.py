"""Prepare the Kathleen voice dataset (CC0): one US English speaker reading the CMU
ARCTIC prompts, 1,620 takes of 1,132 prompts, 1.4 h.

    python recipes/kathleen/prepare.py --source ../shared/data/speech/kathleen
    python recipes/kathleen/prepare.py --source dataset-voice-cathy  # a git clone
    python recipes/kathleen/prepare.py                               # download

Writes data/kathleen/{train,dev,test}.jsonl, split by prompt, never by file: several
takes share a prompt, so every take of a prompt lands in the same split. The split
is a hash of ``prompt_id`` (about 90/5/5 % of prompts), the same on every machine.
It also writes ``heldout_prompts.txt``, the dev and test sentences: remove them from
any language-model text.

A source is either the FLAC repack (``manifest.jsonl`` + ``audio/``) or the GitHub
repository's layout (``data/arctic_<id>_<timestamp>.wav`` with a ``.txt`` beside
each take).
"""

from __future__ import annotations

import json
import re
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

COMMIT = (
    "c51cb971036a127359b43c621f26ca5081eab13e"  # the release the repack was made from
)
URL = f"https://github.com/rhasspy/dataset-voice-cathy/archive/{COMMIT}.zip"
TAKE = re.compile(r"^(arctic_[ab]\d{4})_(\d+)$")  # arctic_a0001_1592748574
DEV_PERCENT, TEST_PERCENT = 5, 5  # of the prompts; the rest is train


def split_of(prompt_id: str) -> str:
    """train, dev or test for a prompt, from a hash of its id (stable across runs)."""
    return hash_split(prompt_id, DEV_PERCENT, TEST_PERCENT)


def find_takes(source: Path) -> list[dict]:
    """Candidate entries (audio, text, speaker, prompt_id) from either layout."""
    manifest = source / "manifest.jsonl"
    if manifest.exists():
        entries = [
            json.loads(line) for line in manifest.read_text().splitlines() if line
        ]
        return [{**e, "audio": str(source / e["audio"])} for e in entries]
    takes = []
    for text_file in sorted(source.rglob("arctic_*.txt")):
        match = TAKE.match(text_file.stem)
        audio = text_file.with_suffix(".wav")
        if match and audio.exists():
            takes.append({
                "audio": str(audio),
                "text": text_file.read_text(encoding="utf-8").strip(),
                "speaker": "kathleen",
                "prompt_id": match.group(1),
            })  # fmt: skip
    return takes


def prepare(source: Path | None, out_dir: Path, url: str = URL) -> dict[str, int]:
    if source is None:
        source = fetch(url, out_dir / "download")
    takes = find_takes(Path(source))
    if not takes:
        raise SystemExit("error: no Kathleen takes (manifest.jsonl, data/arctic_*.txt) "
                         f"under {source}")  # fmt: skip
    good, broken = probe_entries(takes, "kathleen")
    splits = {"train": [], "dev": [], "test": []}
    for entry in good:
        splits[split_of(entry["prompt_id"])].append(entry)
    heldout = sorted({e["text"] for s in ("dev", "test") for e in splits[s]})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "heldout_prompts.txt").write_text("".join(t + "\n" for t in heldout))
    return write_splits(out_dir, "kathleen", splits, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("local copy (default: download the GitHub release)"),
            out_dir_option("data/kathleen"),
            url_option(URL),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
