"""Prepare VCTK speaker p239 as a test-only set: a young female British speaker and
sentences that Kathleen never reads, for testing generalisation.

    python recipes/vctk_p239/prepare.py --source ../shared/data/speech/vctk_p239
    python recipes/vctk_p239/prepare.py --source /data/VCTK-Corpus-0.92
    python recipes/vctk_p239/prepare.py          # download VCTK 0.92 (11 GB)

Writes data/vctk_p239/test.jsonl only. A source is the FLAC repack
(``manifest.jsonl`` + ``audio/``) or a VCTK corpus folder (0.80 or 0.92 layout).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from asr.core.options import run_script
from asr.data.prepare import (
    fetch,
    out_dir_option,
    probe_entries,
    recipe_main,
    source_option,
    url_option,
    write_splits,
)

SPEAKER = "p239"


def _vctk():
    path = Path(__file__).resolve().parents[1] / "vctk" / "prepare.py"
    spec = importlib.util.spec_from_file_location("vctk_prepare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_utterances(source: Path) -> list[dict]:
    manifest = source / "manifest.jsonl"
    if manifest.exists():
        entries = [
            json.loads(line) for line in manifest.read_text().splitlines() if line
        ]
        return [{**e, "audio": str(source / e["audio"])} for e in entries]
    return _vctk().find_utterances(source, speakers={SPEAKER})


def prepare(
    source: Path | None, out_dir: Path, url: str | None = None
) -> dict[str, int]:
    if source is None:
        vctk = _vctk()
        source = fetch(url or vctk.URL, out_dir / "download",
                       sha256=None if url else vctk.SHA256)  # fmt: skip
    candidates = find_utterances(Path(source))
    if not candidates:
        raise SystemExit(f"error: no p239 utterances under {source}")
    good, broken = probe_entries(candidates, "vctk_p239")
    return write_splits(out_dir, "vctk_p239", {"test": good}, broken)


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("local copy (default: download VCTK 0.92)"),
            out_dir_option("data/vctk_p239", "where the manifest (and a download) go"),
            url_option(None),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
