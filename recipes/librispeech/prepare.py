"""Prepare LibriSpeech (openslr SLR12, CC BY 4.0): 1,000 h of read audiobooks.

    python recipes/librispeech/prepare.py --source /data   # holds LibriSpeech/
    python recipes/librispeech/prepare.py                             # download
    python recipes/librispeech/prepare.py --train-subsets train-clean-100

Writes data/librispeech/<subset>.jsonl for every subset asked for, and train.jsonl
(the train subsets together), dev.jsonl (dev-clean + dev-other, for choosing
checkpoints), test-clean.jsonl and test-other.jsonl (for the results). Each subset's
manifest is cached with a done-marker, so a rerun, or one with more subsets, only
does the new work; a download resumes where it stopped.

The files are walked with ``torchaudio.datasets.LIBRISPEECH`` (which reads the
``<spk>/<chapter>/<spk>-<chapter>.trans.txt`` transcripts) from
``<source>/LibriSpeech/<subset>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torchaudio.datasets import LIBRISPEECH

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from asr.core.options import run_script
from asr.data.manifest import read_manifest  # noqa: E402
from asr.data.prepare import (
    fetch,
    out_dir_option,
    probe_entries,
    recipe_main,
    source_option,
    write_splits,
)

BASE_URL = "https://www.openslr.org/resources/12"
# subset: (md5 from openslr's md5sum.txt, sha256 from torchaudio.datasets.librispeech)
CHECKSUMS = {
    "dev-clean": ("42e2234ba48799c1f50f24a7926300a1",
                  "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
    "dev-other": ("c8d0bcc9cca99d4f8b62fcc847357931",
                  "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
    "test-clean": ("32fa31d27d2e1cad72775fee3f4849a9",
                   "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
    "test-other": ("fb5a50374b501bb3bac4815ee91d3135",
                   "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
    "train-clean-100": ("2a93770f6d5c6c964bc36631d331a522",
                        "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
    "train-clean-360": ("c0e676e450a7ff2f54aeade5171606fa",
                        "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
    "train-other-500": ("d1a0fd59409feb2c614ce4d30c387708",
                        "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
}  # fmt: skip
TRAIN_SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500")
DEV_SUBSETS = ("dev-clean", "dev-other")
TEST_SUBSETS = ("test-clean", "test-other")


def subset_candidates(root: Path, subset: str) -> tuple[list[dict], list[str]]:
    """Candidate entries of one subset under ``root/LibriSpeech/<subset>``, and a
    message for each file without a transcript."""
    dataset = LIBRISPEECH(str(root), url=subset, download=False)
    entries, broken = [], []
    for n in range(len(dataset)):
        try:
            path, _, text, speaker, chapter, utt = dataset.get_metadata(n)
        except FileNotFoundError as error:  # no line for it in .trans.txt
            broken.append(f"{subset} item {n}: {error}")
            continue
        entries.append({
            "audio": str(Path(root) / "LibriSpeech" / path), "text": text,
            "speaker": str(speaker),
            "chapter": str(chapter), "utterance": f"{speaker}-{chapter}-{utt:04d}",
        })  # fmt: skip
    return entries, broken


def prepare_subset(
    root: Path | None, subset: str, out_dir: Path, base_url: str
) -> list[dict]:
    """One subset's entries: from its cached manifest, or made (and cached) now."""
    manifest, marker = out_dir / f"{subset}.jsonl", out_dir / f".{subset}.done"
    if manifest.exists() and marker.exists():
        return read_manifest(manifest)
    if root is None:
        md5, sha256 = CHECKSUMS[subset]
        root = fetch(
            f"{base_url}/{subset}.tar.gz", out_dir / "download", md5=md5, sha256=sha256
        )
    if not (Path(root) / "LibriSpeech" / subset).is_dir():
        raise SystemExit(f"error: no {root}/LibriSpeech/{subset} folder")
    candidates, broken = subset_candidates(Path(root), subset)
    good, unreadable = probe_entries(candidates, subset)
    write_splits(out_dir, f"librispeech {subset}", {subset: good}, broken + unreadable)
    marker.touch()
    return good


def prepare(
    source: Path | None,
    out_dir: Path,
    train_subsets=TRAIN_SUBSETS,
    base_url: str = BASE_URL,
) -> dict[str, int]:
    for subset in train_subsets:
        if subset not in TRAIN_SUBSETS:
            raise SystemExit(
                f"error: {subset} is not one of {', '.join(TRAIN_SUBSETS)}"
            )
    out_dir = Path(out_dir)
    entries = {s: prepare_subset(source, s, out_dir, base_url)
               for s in (*train_subsets, *DEV_SUBSETS, *TEST_SUBSETS)}  # fmt: skip
    combined = {
        "train": [e for s in train_subsets for e in entries[s]],
        "dev": [e for s in DEV_SUBSETS for e in entries[s]],
    }
    return write_splits(out_dir, "librispeech", combined, [])


def main(argv: list[str] | None = None) -> None:
    recipe_main(
        __doc__,
        prepare,
        [
            source_option("folder holding LibriSpeech/<subset>/ (default: download)"),
            out_dir_option(
                "data/librispeech", "where the manifests (and downloads) go"
            ),
            (
                "--train-subsets",
                {
                    "nargs": "+",
                    "default": list(TRAIN_SUBSETS),
                    "help": "which training subsets go into train.jsonl",
                },
            ),
            ("--base-url", {"default": BASE_URL, "help": "where the archives are"}),
        ],
        argv,
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
