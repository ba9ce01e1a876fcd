"""Combine synthetic and real speech into the manifests of the English recipe.

    python recipes/english/prepare.py --shared ../shared/data

Writes into ``--out-dir`` (default data/english):

    train.jsonl            synthetic (all but the dev slice) + Kathleen train
                           prompts (listed --kathleen-repeat times) + FSDD train
                           split (takes 5-49)
    dev.jsonl              Kathleen dev prompts: real speech, what training selects on
    dev_synth.jsonl        every 50th synthetic utterance (for diagnosis)
    test_vctk_p239.jsonl   VCTK p239: unseen speaker, unseen text (never trained on)
    test_fsdd.jsonl        FSDD test split (takes 0-4)

The only real adult speech for training is Kathleen's hour, against tens of hours of
synthetic speech, so its utterances are listed ``--kathleen-repeat`` times in
train.jsonl (each pass draws fresh augmentation), and the dev set that picks the
checkpoint is real speech only. Kathleen is split by ``prompt_id`` (every 20th
prompt, sorted, is dev), so no dev sentence is heard in training in another take.
Test sets are only written, never mixed in; a VCTK sentence found among the
training texts is an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.data import read_manifest, write_manifest
from asr.text import normalize_text

KATHLEEN_DEV_EVERY = 20  # every n-th Kathleen prompt (sorted by id) is held out as dev
SYNTH_DEV_EVERY = 50  # every n-th synthetic utterance is held out as dev


def split_kathleen(entries: list[dict], every: int = KATHLEEN_DEV_EVERY):
    """(train, dev) entries, split by prompt so all takes of a prompt stay together."""
    prompts = sorted({e["prompt_id"] for e in entries})
    dev_prompts = set(prompts[::every])
    return (
        [e for e in entries if e["prompt_id"] not in dev_prompts],
        [e for e in entries if e["prompt_id"] in dev_prompts],
    )


def _slim(entries: list[dict], source: str) -> list[dict]:
    return [
        {
            "audio": e["audio"],
            "text": e["text"],
            "duration": e["duration"],
            "source": source,
        }
        for e in entries
    ]


def prepare(
    shared: Path, synth_manifest: Path, out_dir: Path, kathleen_repeat: int = 1
) -> dict[str, int]:
    kathleen = read_manifest(shared / "speech/kathleen/manifest.jsonl")
    fsdd = [dict(e) for e in read_manifest(shared / "speech/fsdd/manifest.jsonl")]
    vctk = read_manifest(shared / "speech/vctk_p239/manifest.jsonl")
    synth = read_manifest(synth_manifest) if synth_manifest.is_file() else []
    if not synth:
        print(f"warning: no synthetic speech in {synth_manifest}; real speech only")
    kathleen_train, kathleen_dev = split_kathleen(kathleen)
    synth_dev = synth[::SYNTH_DEV_EVERY]
    synth_train = [e for i, e in enumerate(synth) if i % SYNTH_DEV_EVERY]
    splits = {
        "train": _slim(synth_train, "synth")
        + _slim(kathleen_train, "kathleen") * kathleen_repeat
        + _slim([e for e in fsdd if e["split"] == "train"], "fsdd"),
        "dev": _slim(kathleen_dev, "kathleen"),
        "dev_synth": _slim(synth_dev, "synth"),
        "test_vctk_p239": _slim(vctk, "vctk_p239"),
        "test_fsdd": _slim([e for e in fsdd if e["split"] == "test"], "fsdd"),
    }  # fmt: skip
    _check_unseen(splits, "test_vctk_p239")
    for name, entries in splits.items():
        write_manifest(out_dir / f"{name}.jsonl", entries)
    counts = {name: len(entries) for name, entries in splits.items()}
    hours = {
        n: round(sum(e["duration"] for e in es) / 3600, 3) for n, es in splits.items()
    }
    print(f"english: utterances {counts}, hours {hours} -> {out_dir}")
    return counts


def _check_unseen(splits: dict[str, list[dict]], test: str) -> None:
    """Refuse to write manifests where a test sentence is also a train/dev sentence."""
    test_texts = {normalize_text(e["text"]) for e in splits[test]}
    for name in ("train", "dev", "dev_synth"):
        leaked = sorted({normalize_text(e["text"]) for e in splits[name]} & test_texts)
        if leaked:
            raise SystemExit(
                f"error: {len(leaked)} {test} sentences are in {name}, "
                f"e.g. {leaked[0]!r}; "
                "resynthesise with --exclude on the test manifest"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path("../shared/data"),
        help="folder holding speech/{kathleen,vctk_p239,fsdd}",
    )
    parser.add_argument(
        "--synth-manifest", type=Path, default=Path("data/english/synth/manifest.jsonl")
    )
    parser.add_argument("--out-dir", type=Path, default=Path("data/english"))
    parser.add_argument(
        "--kathleen-repeat", type=int, default=3,
        help="times each Kathleen train utterance is listed in train.jsonl",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.kathleen_repeat < 1:
        parser.error("--kathleen-repeat must be at least 1")
    prepare(args.shared, args.synth_manifest, args.out_dir, args.kathleen_repeat)


if __name__ == "__main__":
    main()
