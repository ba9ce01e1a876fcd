"""Manifests for the grammar evaluation (recipes/commands/README.md).

    python recipes/commands/prepare.py --shared ../shared/data --out data/commands

Test sets (never used to choose anything):
  fsdd_digits.jsonl     FSDD test split (takes 0-4), 300 single digits
  digit_strings.jsonl   100 strings of three FSDD test takes of one speaker, joined
                        with 0.1-0.25 s of silence (made here, 16 kHz FLAC)
  wakewords.jsonl       the held-out tenth of speech/wakewords: every 10th clip of each
                        keyword in manifest order (the 1st, 11th, 21st, ...)
  speech_commands.jsonl the Speech Commands test split: 618 one-word clips of 75
                        speakers nobody trained on, 35 words
  robot.jsonl           sentences of recipes/commands/robot.ini (5.3 x 10^8 of them)
                        made of one Speech Commands test speaker's own recordings:
                        each word's take trimmed (librosa.effects.trim) and joined
                        with 0.1-0.3 s of silence (made here, 16 kHz FLAC)
  robot_oog.jsonl       the same speakers' words in orders the grammar cannot say
  vctk_oog.jsonl        every 5th VCTK p239 sentence: out-of-grammar speech
Tuning sets (training and dev data only; for the [unk] penalty):
  tune_in.jsonl         wakeword training clips (every 20th of the rest) and FSDD train
                        takes 5 and 6, with their grammar in "grammar"
  tune_oog.jsonl        LibriSpeech dev (60) and every 20th Kathleen take
Each entry holds "slots" (what the grammar's tags should give) where in grammar.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.core.options import run_script
from asr.data.manifest import read_manifest, write_manifest
from asr.decoding.grammar import UNK, load_grammar

DIGITS = "zero one two three four five six seven eight nine".split()
STRINGS = 100  # digit strings made from FSDD test takes
STRING_LENGTH = 3  # digits per string (the grammar's <digit> <digit> <digit>)
ROBOT_GRAMMAR = Path(__file__).resolve().parent / "robot.ini"
DIRECTIONS = "up down left right forward backward".split()
SINGLES = "stop on off yes no".split()  # one-word sentences of robot.ini


def heldout_wakewords(entries: list[dict]) -> tuple[list[dict], list[dict]]:
    """(held-out tenth, the rest): every 10th clip of each keyword in manifest order."""
    seen: dict[str, int] = {}
    held, rest = [], []
    for e in entries:
        k = seen.get(e["keyword"], 0)
        seen[e["keyword"]] = k + 1
        (held if k % 10 == 0 else rest).append(e)
    return held, rest


def with_grammar(entries, grammar: str, slots) -> list[dict]:
    return [{**e, "grammar": grammar, "slots": slots(e)} for e in entries]


def join_takes(rng: random.Random, choices: list[list], gaps, load=None) -> np.ndarray:
    """One recording of a sentence, a list of takes to choose from per word: before
    each word ``rng.uniform(*gaps)`` seconds of silence, then one of its takes
    (``load(take)`` makes it a 16 kHz wave; default: it is one); the first silence
    again at the end."""
    pieces = []
    for takes in choices:
        gap = np.zeros(int(rng.uniform(*gaps) * SAMPLE_RATE), np.float32)
        take = rng.choice(takes)
        pieces += [gap, take if load is None else load(take)]
    return np.concatenate([*pieces, pieces[0]])


def digit_strings(test: list[dict], folder: Path, seed: int = 0) -> list[dict]:
    """Join STRING_LENGTH test takes of one speaker into one 16 kHz recording."""
    rng = random.Random(seed)
    by_key = {(e["speaker"], e["text"]): [] for e in test}
    for e in test:
        by_key[(e["speaker"], e["text"])].append(e)
    speakers = sorted({e["speaker"] for e in test})
    out = []
    for i in range(STRINGS):
        speaker = speakers[i % len(speakers)]
        words = [rng.choice(DIGITS) for _ in range(STRING_LENGTH)]
        choices = [by_key[(speaker, word)] for word in words]
        wave = join_takes(rng, choices, (0.1, 0.25), lambda e: load_audio(e["audio"]))
        path = folder / f"{i:03d}_{speaker}.flac"
        sf.write(str(path), wave, SAMPLE_RATE, subtype="PCM_16")
        slots = {f"d{k + 1}": w for k, w in enumerate(words)}
        out.append(
            {
                "audio": str(path),
                "text": " ".join(words),
                "speaker": speaker,
                "duration": round(len(wave) / SAMPLE_RATE, 3),
                "slots": slots,
            }
        )
    return out


def robot_sentence(rng: random.Random, words: set[str]) -> str | None:
    """A sentence of robot.ini in ``words`` (one speaker's recorded words), or None.

    Not uniform over the grammar's paths (a test speaker recorded 1 to 45 takes):
    moves (an optional name and "go", a direction, one to three digits, half the time
    a second move) where the speaker has a direction and a digit, otherwise "follow"
    or a one-word command."""
    digits = [w for w in DIGITS if w in words]
    directions = [w for w in DIRECTIONS if w in words]
    names = [w for w in ("marvin", "sheila") if w in words]
    if digits and directions and rng.random() < 0.85:
        said = [rng.choice(names)] if names and rng.random() < 0.5 else []
        for _ in range(1 + (rng.random() < 0.5)):
            said += ["go"] if "go" in words and rng.random() < 0.5 else []
            said += [rng.choice(directions)]
            said += [rng.choice(digits) for _ in range(rng.randint(1, 3))]
        return " ".join(said)
    targets = [w for w in ("marvin", "sheila", "cat", "dog", "bird") if w in words]
    options = [w for w in SINGLES if w in words]
    options += [f"follow {t}" for t in targets if "follow" in words]
    return rng.choice(options) if options else None


def word_takes(entries: list[dict]) -> dict[tuple[str, str], list[np.ndarray]]:
    """(speaker, word) -> its takes, trimmed to the word with 50 ms either side and
    10 ms fades. The cut is 40 dB under the peak: at 25 dB, words ending in a plosive
    (eight, left, up) lost a median 0.1 s, their release (Speech Commands' train
    split)."""
    takes: dict[tuple[str, str], list[np.ndarray]] = {}
    margin, fade = int(0.05 * SAMPLE_RATE), int(0.01 * SAMPLE_RATE)
    for e in entries:
        wave = load_audio(e["audio"])
        _, (start, end) = librosa.effects.trim(wave, top_db=40)
        piece = wave[max(0, start - margin) : end + margin].copy()
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
        takes.setdefault((e["speaker"], e["text"]), []).append(piece)
    return takes


def robot_sets(test: list[dict], folder: Path, seed: int = 0):
    """(robot, robot_oog): robot.ini sentences and out-of-grammar word orders, each
    joined from one Speech Commands test speaker's own takes."""
    rng, grammar = random.Random(seed), load_grammar(ROBOT_GRAMMAR)
    takes = word_takes(test)
    inside, outside = [], []
    for speaker in sorted({e["speaker"] for e in test}):
        words = {w for s, w in takes if s == speaker}
        clips = sum(len(v) for (s, _), v in takes.items() if s == speaker)
        texts = [robot_sentence(rng, words) for _ in range(min(6, max(1, clips // 3)))]
        texts = [t for t in texts if t]
        if clips >= 3:  # a word order the grammar cannot say, from the same words
            order = rng.sample(sorted(words), min(len(words), rng.randint(2, 4)))
            if grammar.find(" ".join(order)) is None:
                texts.append(" ".join(order))
        for text in texts:
            found = grammar.find(text)
            choices = [takes[(speaker, word)] for word in text.split()]
            wave = join_takes(rng, choices, (0.1, 0.3))
            n = len(inside) + len(outside)
            path = folder / f"{n:03d}_{speaker}.flac"
            sf.write(str(path), wave, SAMPLE_RATE, subtype="PCM_16")
            entry = {"audio": str(path), "speaker": speaker, "said": text,
                     "duration": round(len(wave) / SAMPLE_RATE, 3)}  # fmt: skip
            if found is None:
                outside.append({**entry, "text": UNK})
            else:
                inside.append({**entry, "text": text, "grammar": "robot",
                               "slots": dict(found.slots)})  # fmt: skip
    return inside, outside


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("data/commands"))
    args = parser.parse_args(argv)
    speech, out = args.shared / "speech", args.out
    (out / "strings").mkdir(parents=True, exist_ok=True)
    (out / "robot").mkdir(parents=True, exist_ok=True)
    fsdd = read_manifest(speech / "fsdd" / "manifest.jsonl")
    test = [e for e in fsdd if e["split"] == "test"]
    train = [e for e in fsdd if e["split"] == "train" and e["take"] in (5, 6)]
    held, rest = heldout_wakewords(
        read_manifest(speech / "wakewords" / "manifest.jsonl")
    )
    keyword = lambda e: {"keyword": e["text"]}  # noqa: E731
    commands = read_manifest(speech / "speech_commands" / "manifest.jsonl")
    robot, robot_oog = robot_sets(
        [e for e in commands if e["split"] == "test"], out / "robot"
    )
    sets = {
        "fsdd_digits": with_grammar(test, "digits", lambda e: {"d1": e["text"]}),
        "digit_strings": with_grammar(
            digit_strings(test, out / "strings"), "digits", lambda e: e["slots"]
        ),
        "wakewords": with_grammar(held, "commands", keyword),
        "speech_commands": with_grammar(
            [e for e in commands if e["split"] == "test"],
            "speech_commands",
            lambda e: {"word": e["text"]},
        ),
        "robot": robot,
        "robot_oog": robot_oog,
        "vctk_oog": read_manifest(speech / "vctk_p239" / "manifest.jsonl")[::5],
        "tune_in": with_grammar(rest[::20], "commands", keyword)
        + with_grammar(train, "digits", lambda e: {"d1": e["text"]}),
        "tune_oog": read_manifest(speech / "librispeech_other_dev" / "manifest.jsonl")
        + read_manifest(speech / "kathleen" / "manifest.jsonl")[::20],
    }
    for name, entries in sets.items():
        write_manifest(out / f"{name}.jsonl", entries)
        print(f"{out / name}.jsonl: {len(entries)} utterances")


if __name__ == "__main__":
    sys.exit(run_script(main))
