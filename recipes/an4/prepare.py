"""Prepare CMU AN4 (alphanumeric census database, free to use; see its README):
74 speakers spelling names and saying numbers, 948 train and 130 test utterances.

    python recipes/an4/prepare.py --source /data/an4    # local copy (sphere or raw)
    python recipes/an4/prepare.py                       # download (64 MB)

Reads ``etc/an4_{train,test}.fileids`` and ``.transcription`` and the audio under
``wav/<fileid>.sph`` (the SPHERE tarball) or ``wav/<fileid>.raw`` (the raw tarball:
headerless 16 kHz 16-bit big-endian). SPHERE files libsndfile reads are used in
place; raw files (and any SPHERE file it cannot read) are converted to FLAC under
``<out-dir>/converted/`` with sox/ffmpeg. Writes data/an4/{train,dev,test}.jsonl: test
is the official test set; dev is the train utterances of the speakers whose id
hashes into 10 % (AN4 has no dev set).
"""

from __future__ import annotations

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

# CMU publishes no checksum for it
URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"
RAW_FORMAT = {"rate": 16000, "bits": 16, "endian": "big"}  # of the .raw files
LINE = re.compile(r"^(.*)\((\S+)\)\s*$")  # "<s> TEXT </s> (an251-fash-b)"
DEV_PERCENT = 10  # of the train speakers


def read_transcriptions(path: Path) -> dict[str, str]:
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LINE.match(line.strip())
        if match:
            text = match.group(1).replace("<s>", " ").replace("</s>", " ")
            texts[match.group(2)] = " ".join(text.split())
    return texts


def find_utterances(root: Path, part: str) -> list[dict]:
    """Candidate entries of ``part`` ("train" or "test") under an ``an4`` folder."""
    fileids = root / "etc" / f"an4_{part}.fileids"
    texts = read_transcriptions(root / "etc" / f"an4_{part}.transcription")
    entries = []
    for fileid in fileids.read_text().split():
        utt = Path(fileid).name
        sph, raw = root / "wav" / f"{fileid}.sph", root / "wav" / f"{fileid}.raw"
        if utt not in texts:
            continue
        speaker = Path(fileid).parent.name
        entry = {"audio": str(sph), "text": texts[utt], "speaker": speaker,
                 "prompt_id": utt}  # fmt: skip
        if not sph.exists() and raw.exists():
            entry.update(audio=str(raw), raw_format=RAW_FORMAT)
        entries.append(entry)
    return entries


def is_dev_speaker(speaker: str) -> bool:
    return hash_split(speaker, DEV_PERCENT, test_percent=0) == "dev"


def prepare(source: Path | None, out_dir: Path, url: str = URL) -> dict[str, int]:
    out_dir = Path(out_dir)
    if source is None:
        source = fetch(url, out_dir / "download")
    found = sorted(Path(source).glob("**/etc/an4_train.fileids"))
    if not found:
        raise SystemExit(f"error: no AN4 etc/an4_train.fileids under {source}")
    root = found[0].parent.parent
    train, broken = probe_entries(find_utterances(root, "train"), "an4 train",
                                  out_dir / "converted")  # fmt: skip
    test, broken_test = probe_entries(find_utterances(root, "test"), "an4 test",
                                      out_dir / "converted")  # fmt: skip
    splits = {
        "train": [e for e in train if not is_dev_speaker(e["speaker"])],
        "dev": [e for e in train if is_dev_speaker(e["speaker"])],
        "test": test,
    }
    return write_splits(out_dir, "an4", splits, broken + broken_test)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("folder holding an4/ (default: download from CMU)"),
            out_dir_option(
                "data/an4", "where the manifests, converted audio (and a download) go"
            ),
            url_option(URL),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
