"""Prepare the CSTR VCTK Corpus 0.92 (ODC-By 1.0): 110 English speakers with
various accents, about 400 newspaper sentences each, 44 h.

    python recipes/vctk/prepare.py --source /data/VCTK-Corpus-0.92   # local copy
    python recipes/vctk/prepare.py                                   # download (11 GB)

Writes data/vctk/{train,dev,test}.jsonl. VCTK has no official split, so this one is
by speaker (a model is tested on voices it never heard): p239 is always test (it is
the project's shared test speaker, see recipes/vctk_p239), the other speakers go to
train/dev/test by a hash of their id (about 90/5/5 %).

Both published layouts are read: 0.92 (``wav48_silence_trimmed/<spk>/<utt>_mic1.flac``,
``txt/<spk>/<utt>.txt``) and 0.80 (``wav48/<spk>/<utt>.wav``). Utterances without a
transcript (all of p315, and a few others) are left out.
"""

from __future__ import annotations

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

# The datashare address and sha256 that torchaudio.datasets.VCTK_092 uses.
URL = "https://datashare.is.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip"
SHA256 = "f96258be9fdc2cbff6559541aae7ea4f59df3fcaf5cf963aae5ca647357e359c"
TEST_SPEAKERS = ("p239",)  # always test, whatever the hash says
DEV_PERCENT, TEST_PERCENT = 5, 5  # of the other speakers; the rest is train


def split_of(speaker: str) -> str:
    if speaker in TEST_SPEAKERS:
        return "test"
    return hash_split(speaker, DEV_PERCENT, TEST_PERCENT)


def find_utterances(root: Path, speakers=None, mic: str = "mic1") -> list[dict]:
    """Candidate entries for every transcribed utterance under a VCTK folder."""
    entries = []
    for text_file in sorted(Path(root).rglob("txt/*/*.txt")):
        speaker, utt = text_file.parent.name, text_file.stem
        if speakers and speaker not in speakers:
            continue
        corpus = text_file.parent.parent.parent
        audio = _audio_of(corpus, speaker, utt, mic)
        if audio is None:
            continue
        entries.append({
            "audio": str(audio),
            "text": text_file.read_text(encoding="utf-8", errors="replace").strip(),
            "speaker": speaker,
            "prompt_id": utt,
        })  # fmt: skip
    return entries


def _audio_of(corpus: Path, speaker: str, utt: str, mic: str) -> Path | None:
    for candidate in (
        corpus / "wav48_silence_trimmed" / speaker / f"{utt}_{mic}.flac",
        corpus / "wav48" / speaker / f"{utt}.wav",
    ):
        if candidate.exists():
            return candidate
    return None


def prepare(
    source: Path | None, out_dir: Path, url: str = URL, sha256: str | None = SHA256,
    mic: str = "mic1",
) -> dict[str, int]:  # fmt: skip
    if source is None:
        source = fetch(url, out_dir / "download", sha256=sha256)
    candidates = find_utterances(Path(source), mic=mic)
    if not candidates:
        raise SystemExit(f"error: no VCTK utterances (txt/<speaker>/*.txt with audio) "
                         f"under {source}")  # fmt: skip
    good, broken = probe_entries(candidates, "vctk")
    splits = {"train": [], "dev": [], "test": []}
    for entry in good:
        splits[split_of(entry["speaker"])].append(entry)
    return write_splits(out_dir, "vctk", splits, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("VCTK folder (default: download 0.92 from datashare)"),
            out_dir_option("data/vctk"),
            url_option(URL),
            (
                "--mic",
                {
                    "default": "mic1",
                    "choices": ["mic1", "mic2"],
                    "help": "which of 0.92's two microphones to use",
                },
            ),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
