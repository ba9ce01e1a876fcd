"""Combine synthetic and real speech into the manifests of the English recipe.

    python recipes/english/prepare.py --shared ../shared/data --real-repeat 3

Writes into ``--out-dir`` (default data/english):

    train.jsonl            synthetic (all but the dev_synth slice) + the real
                           training speech: Kathleen, LibriSpeech train readers,
                           speechocean762 train, speech_commands train split, FSDD
                           train split (takes 5-49), wake words but the held-out
                           tenth, and pseudo-labelled LibriSpeech readers (`asr
                           pseudo-label`); each real set listed its repeat count times
    dev.jsonl              librispeech_other_dev: 60 utterances of six LibriSpeech
                           test-other speakers, what training and tuning select on
    dev_synth.jsonl        every 50th synthetic utterance (for diagnosis)
    test_librispeech_clean.jsonl  240 utterances of the 40 test-clean readers
    test_vctk_p239.jsonl   VCTK p239: unseen speaker, unseen text (never trained on)
    test_fsdd.jsonl        FSDD test split (takes 0-4)
    test_speech_commands.jsonl    speech_commands test split: 75 unseen speakers
    test_wakewords.jsonl   every 10th clip of each wake word in manifest order (the
                           1st, 11th, 21st, ...): a six-phrase command test set

Without synthetic speech (no ``--synth-manifest`` yet) the real sets alone are
written, which is all the evaluation manifests need. Real speech is small against
tens of synthetic hours, so ``--real-repeat`` (or a per-set ``--NAME-repeat``) lists
each real utterance that many times in train.jsonl (each pass draws fresh
augmentation): the real:synthetic ratio; ``--skip-voices`` leaves voices out (which
voices: choose on dev, no resynthesis needed). Test sets are only written, never
mixed in; a VCTK or dev sentence among the training texts, or a dev or test-clean
reader among the training readers, is an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.core.options import run_script
from asr.core.text import normalize_text
from asr.data.manifest import read_manifest, write_manifest

SYNTH_DEV_EVERY = 50  # every n-th synthetic utterance is held out as dev_synth
WAKEWORD_TEST_EVERY = 10  # every n-th clip of each keyword is held out as a test set
# carried into the manifests
KEPT_KEYS = ("speaker", "keyword", "engine", "voice", "teacher")
# real training speech, repeatable: (shared speech folder, which entries train)
REAL_SETS = ("kathleen", "wakewords", "fsdd", "librispeech", "speechocean",
             "speech_commands", "pseudo")  # fmt: skip
PSEUDO_MANIFEST = Path("data/pseudo/librispeech_untranscribed.jsonl")


def split_wakewords(entries: list[dict], every: int = WAKEWORD_TEST_EVERY):
    """(train, test): the 1st, 11th, 21st, ... clip of each keyword, counted in
    manifest order, is test; the rest train."""
    seen: dict[str, int] = {}
    train, test = [], []
    for entry in entries:
        n = seen.get(entry["keyword"], 0)
        seen[entry["keyword"]] = n + 1
        (test if n % every == 0 else train).append(entry)
    return train, test


def _slim(entries: list[dict], source: str) -> list[dict]:
    out = []
    for e in entries:
        slim = {"audio": e["audio"], "text": e["text"], "duration": e["duration"]}
        slim.update({k: e[k] for k in KEPT_KEYS if k in e})
        out.append({**slim, "source": source})
    return out


def prepare(
    shared: Path,
    synth_manifest: Path,
    out_dir: Path,
    repeats: dict[str, int] | None = None,
    skip_voices: tuple[str, ...] = (),
    pseudo_manifest: Path = PSEUDO_MANIFEST,
) -> dict[str, int]:
    """Write the manifests; ``repeats``: times each real set (``REAL_SETS``) is
    listed in train.jsonl (1 where not given); ``skip_voices``: synthetic utterances
    whose ``voice`` contains one of these texts are left out of train.jsonl.
    Returns utterances per manifest."""
    repeats = {name: 1 for name in REAL_SETS} | (repeats or {})
    speech = shared / "speech"
    kathleen = read_manifest(speech / "kathleen/manifest.jsonl")
    fsdd = read_manifest(speech / "fsdd/manifest.jsonl")
    wake_train, wake_test = split_wakewords(
        read_manifest(speech / "wakewords/manifest.jsonl")
    )
    commands = read_manifest(speech / "speech_commands/manifest.jsonl")
    pseudo = read_manifest(pseudo_manifest) if pseudo_manifest.is_file() else []
    if not pseudo:
        print(f"warning: no pseudo-labels in {pseudo_manifest} (asr pseudo-label)")
    synth = read_manifest(synth_manifest) if synth_manifest.is_file() else []
    if not synth:
        print(f"warning: no synthetic speech in {synth_manifest}; real speech only")
    real = {
        "kathleen": _slim(kathleen, "kathleen"),
        "wakewords": _slim(wake_train, "wakewords"),
        "fsdd": _slim([e for e in fsdd if e["split"] == "train"], "fsdd"),
        "librispeech": _slim(
            read_manifest(speech / "librispeech_train/manifest.jsonl"), "librispeech"
        ),
        "speechocean": _slim(
            read_manifest(speech / "speechocean762_train/manifest.jsonl"), "speechocean"
        ),
        "speech_commands": _slim(
            [e for e in commands if e["split"] == "train"], "speech_commands"
        ),
        "pseudo": _slim([e for e in pseudo if e["text"]], "pseudo"),
    }
    synth_train = [
        e
        for i, e in enumerate(synth)
        if i % SYNTH_DEV_EVERY and not any(t in e.get("voice", "") for t in skip_voices)
    ]
    splits = {
        "train": _slim(synth_train, "synth")
        + [e for name in REAL_SETS for e in real[name] * repeats[name]],
        "dev": _slim(read_manifest(speech / "librispeech_other_dev/manifest.jsonl"),
                     "librispeech_other_dev"),
        "dev_synth": _slim(synth[::SYNTH_DEV_EVERY], "synth"),
        "test_vctk_p239": _slim(read_manifest(speech / "vctk_p239/manifest.jsonl"),
                                "vctk_p239"),
        "test_fsdd": _slim([e for e in fsdd if e["split"] == "test"], "fsdd"),
        "test_wakewords": _slim(wake_test, "wakewords"),
        "test_librispeech_clean": _slim(
            read_manifest(speech / "librispeech_clean_test/manifest.jsonl"),
            "librispeech_clean_test"),
        "test_speech_commands": _slim([e for e in commands if e["split"] == "test"],
                                      "speech_commands"),
    }  # fmt: skip
    _check_unseen(splits, "test_vctk_p239", ("train", "dev", "dev_synth"))
    _check_unseen(splits, "dev", ("train", "dev_synth"))
    _check_speakers(splits, ("dev", "test_librispeech_clean"))
    for name, entries in splits.items():
        write_manifest(out_dir / f"{name}.jsonl", entries)
    _report(splits, out_dir)
    return {name: len(entries) for name, entries in splits.items()}


def _report(splits: dict[str, list[dict]], out_dir: Path) -> None:
    hours = {
        n: round(sum(e["duration"] for e in es) / 3600, 3) for n, es in splits.items()
    }
    counts = {name: len(entries) for name, entries in splits.items()}
    print(f"english: utterances {counts}, hours {hours} -> {out_dir}")
    by_source: dict[str, float] = {}
    for e in splits["train"]:
        by_source[e["source"]] = by_source.get(e["source"], 0.0) + e["duration"]
    real = sum(s for source, s in by_source.items() if source != "synth")
    synth = by_source.get("synth", 0.0)
    listed = ", ".join(f"{k} {v / 3600:.2f} h" for k, v in sorted(by_source.items()))
    print(f"train as listed: {listed}; real:synthetic = "
          f"{real / 3600:.2f} h : {synth / 3600:.2f} h")  # fmt: skip


def _check_speakers(splits: dict[str, list[dict]], held: tuple[str, ...]) -> None:
    """Refuse manifests where a LibriSpeech dev or test reader is trained on."""
    trained = {
        e["speaker"]
        for e in splits["train"]
        if e["source"] in ("librispeech", "pseudo") and "speaker" in e
    }
    for name in held:
        shared = trained & {e.get("speaker") for e in splits[name]}
        if shared:
            raise SystemExit(f"error: {name} readers {sorted(shared)} are in train")


def _check_unseen(splits: dict[str, list[dict]], held: str, others) -> None:
    """Refuse to write manifests where a held-out sentence is also in ``others``."""
    held_texts = {normalize_text(e["text"]) for e in splits[held]}
    for name in others:
        leaked = sorted({normalize_text(e["text"]) for e in splits[name]} & held_texts)
        if leaked:
            raise SystemExit(
                f"error: {len(leaked)} {held} sentences are in {name}, "
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
        help="folder holding speech/{kathleen,fsdd,wakewords,...} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--synth-manifest",
        type=Path,
        default=Path("data/english/synth/manifest.jsonl"),
        help="the synthetic speech of stage 0 (default: %(default)s); "
        "real speech only when absent",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("data/english"),
        help="where the manifests are written (default: %(default)s)",
    )
    parser.add_argument(
        "--pseudo-manifest",
        type=Path,
        default=PSEUDO_MANIFEST,
        help="labels of librispeech_untranscribed made by `asr pseudo-label` "
        "(filtered there); left out when absent",
    )
    parser.add_argument(
        "--real-repeat",
        type=int,
        default=3,
        help="times each real training utterance is listed in "
        "train.jsonl: the real:synthetic ratio",
    )
    for name in REAL_SETS:
        parser.add_argument(
            f"--{name}-repeat",
            type=int,
            help=f"times for {name} (default: --real-repeat)",
        )
    parser.add_argument(
        "--skip-voices",
        nargs="+",
        default=[],
        metavar="TEXT",
        help="leave out of train.jsonl the synthetic utterances "
        "whose voice contains TEXT (e.g. mbrola, -en, espeak-ng)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    repeats = {name: getattr(args, f"{name}_repeat") for name in REAL_SETS}
    repeats = {k: args.real_repeat if v is None else v for k, v in repeats.items()}
    if min(repeats.values()) < 1:
        parser.error("repeat counts must be at least 1")
    prepare(args.shared, args.synth_manifest, args.out_dir, repeats,
            tuple(args.skip_voices), args.pseudo_manifest)  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_script(main))
