"""Prepare TED-LIUM release 3 (openslr SLR51, CC BY-NC-ND 3.0): 452 h of TED talks.

    python recipes/tedlium/prepare.py --source /data/TEDLIUM_release-3
    python recipes/tedlium/prepare.py          # download (51 GB)

Uses the ``legacy`` split (the one results are usually reported on):
``legacy/{train,dev,test}/sph/<talk>.sph`` with ``stm/<talk>.stm``. Talks are long,
so every STM segment is cut out by its start and end times and written as its own
FLAC file under ``<out-dir>/segments/<split>/<talk>/`` (16 kHz, as in the source);
segments marked ``ignore_time_segment_in_scoring`` are left out. A talk whose SPHERE
file libsndfile cannot read is converted with sox/ffmpeg first. Finished talks are
skipped on a rerun (a done-marker per talk), so an interrupted run resumes.

Transcripts: ``<unk>`` and other ``<...>`` markers are removed, and the corpus's
split contractions are joined again (``it 's`` -> ``it's``), so a manifest holds
plain text.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from asr.core.options import run_script
from asr.data.prepare import (
    fetch,
    out_dir_option,
    readable_audio,
    recipe_main,
    source_option,
    url_option,
    write_splits,
)

# openslr's address and the sha256 that torchaudio.datasets.TEDLIUM checks
URL = "https://www.openslr.org/resources/51/TEDLIUM_release-3.tgz"
SHA256 = "ad1e454d14d1ad550bc2564c462d87c7a7ec83d4dc2b9210f22ab4973b9eccdb"
SPLITS = ("train", "dev", "test")
IGNORED = "ignore_time_segment_in_scoring"


def clean_text(text: str) -> str:
    text = re.sub(r"<[^>]*>|\{[^}]*\}", " ", text)  # <unk>, {noise}
    text = re.sub(r" '(?=[a-z])", "'", text)  # "it 's" -> "it's"
    return " ".join(text.split())


def read_stm(path: Path) -> list[tuple[float, float, str, str]]:
    """(start s, end s, speaker, text) of each scored segment of an STM file."""
    segments = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith(";;"):
            continue
        fields = line.split(maxsplit=6)
        text = fields[6] if len(fields) > 6 else ""
        if len(fields) < 6 or IGNORED in text:
            continue
        text = clean_text(text)
        if text:
            segments.append((float(fields[3]), float(fields[4]), fields[2], text))
    return segments


def cut_talk(stm: Path, sph: Path, seg_dir: Path, convert_dir: Path) -> list[dict]:
    """Write one talk's segments as FLAC (skipped when done before); their entries.

    Raises:
        ValueError: the talk's audio is missing, broken or cannot be converted.
    """
    talk_dir, talk = seg_dir / stm.stem, stm.stem
    done = talk_dir / "segments.jsonl"
    if done.exists():
        return [json.loads(line) for line in done.read_text().splitlines()]
    audio, _ = readable_audio(sph, convert_dir)
    samples, rate = sf.read(str(audio), dtype="int16")
    entries = []
    talk_dir.mkdir(parents=True, exist_ok=True)
    for start, end, speaker, text in read_stm(stm):
        piece = samples[int(start * rate) : int(end * rate)]
        if len(piece) == 0:
            continue
        out = talk_dir / f"{talk}-{int(start * 100):07d}-{int(end * 100):07d}.flac"
        sf.write(str(out), piece, rate)
        entries.append({"audio": str(out.resolve()), "text": text,
                        "duration": round(len(piece) / rate, 3), "speaker": speaker,
                        "talk": talk, "talk_offset": start})  # fmt: skip
    done.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return entries


def prepare_split(
    root: Path, split: str, out_dir: Path
) -> tuple[list[dict], list[str]]:
    entries, broken = [], []
    stms = sorted((root / split / "stm").glob("*.stm"))
    for stm in tqdm(stms, desc=f"tedlium {split}", unit="talk"):
        sph = root / split / "sph" / f"{stm.stem}.sph"
        try:
            entries += cut_talk(
                stm, sph, out_dir / "segments" / split, out_dir / "converted"
            )
        except (ValueError, OSError, sf.LibsndfileError) as error:
            broken.append(f"{sph}: {error}")
    return entries, broken


def prepare(source: Path | None, out_dir: Path, url: str = URL,
            sha256: str | None = SHA256) -> dict[str, int]:  # fmt: skip
    if source is None:
        source = fetch(url, out_dir / "download", sha256=sha256)
    found = sorted(Path(source).glob("**/legacy/train/stm"))
    if not found:
        raise SystemExit(f"error: no TED-LIUM 3 legacy/train/stm folder under {source}")
    root = found[0].parent.parent
    splits, broken = {}, []
    for split in SPLITS:
        splits[split], failed = prepare_split(root, split, Path(out_dir))
        broken += failed
    return write_splits(out_dir, "tedlium", splits, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("TEDLIUM_release-3 folder (default: download from openslr)"),
            out_dir_option(
                "data/tedlium", "where the manifests, segments (and a download) go"
            ),
            url_option(URL),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
