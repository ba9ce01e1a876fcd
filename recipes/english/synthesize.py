"""Synthesise English training speech from text with every offline voice at hand.

    python recipes/english/synthesize.py --hours 3 --jobs 2 \
        --exclude ../shared/data/speech/vctk_p239/manifest.jsonl \
        --exclude ../shared/data/speech/kathleen/manifest.jsonl

Sentences come from the openly licensed corpora in ``--text-dir`` (*.txt.gz, one
sentence a line); each is spoken by espeak-ng (every English voice it can load, with
every variant, random rate and pitch) or flite (kal, kal16, awb, rms, slt, random
duration stretch), resampled to 16 kHz and, for ``--augment-fraction`` of them,
augmented (speed, room reverberation, telephone band, noise). The output is

    OUT_DIR/<shard>/<id>.flac   16 kHz mono FLAC, 1000 files a shard
    OUT_DIR/manifest.jsonl      {"audio", "text", "duration", "voice", "augment", ...}

The plan (which sentence, voice, rate, pitch and augmentation each utterance gets)
depends only on ``--seed``, the text, the exclusions and the voices installed, so a
run is deterministic and resumable: an utterance whose FLAC exists and opens is not
made again, and the manifest is rebuilt from the files on disk.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from augment import AUGMENTATIONS, augment  # recipes/english/augment.py
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, prepare_audio
from asr.data import write_manifest
from asr.text import normalize_text

MIN_WORDS, MAX_WORDS = 3, 25  # sentence length kept, in normalised words
MIN_LETTER_SHARE = 0.75  # letters among the non-space characters of a kept sentence
# Characters a kept sentence may hold: no digits or symbols, whose spoken form the
# TTS and our normaliser would spell differently ("1990", "&", "$").
ALLOWED = re.compile(r"^[A-Za-z ,;:!?'\"\-\u2018\u2019\u201c\u201d().]+$")
ACRONYM = re.compile(r"\b[A-Z]{2,}\b")  # read letter by letter by the TTS, not by us
INNER_PERIOD = re.compile(r"\.(?!\s*$)")  # "Mr.", "U.S.": spoken otherwise than written
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # general-domain built-in voices
ESPEAK_RATE = (130, 210)  # words per minute, uniform
ESPEAK_PITCH = (20, 80)  # espeak-ng -p range 0-99, uniform
FLITE_STRETCH = (0.85, 1.2)  # flite duration_stretch (>1 is slower), uniform
ESPEAK_SHARE = 0.6  # utterances spoken by espeak-ng; the rest by flite
SECONDS_PER_CHAR = 0.066  # measured: espeak-ng en-us at 160 wpm, flite kal at 1.0
SHARD_SIZE = 1000  # files per shard folder
VARIANT_FILE = re.compile(r"!v/(.*?)(?:\s{2,}|\s*$)")  # File column of --voices=variant
TTS_TIMEOUT_S = 60  # a TTS call that takes longer is treated as hung


@dataclass(frozen=True)
class Utterance:
    index: int  # position in the plan; names the file
    text: str  # the sentence as written in the corpus (spoken with its punctuation)
    corpus: str  # text file it came from, without .txt.gz
    engine: str  # "espeak-ng" or "flite"
    voice: str  # espeak-ng "voice+variant" or a flite voice name
    rate: float  # espeak-ng words per minute, or flite duration stretch
    pitch: int  # espeak-ng pitch 0-99 (0 for flite)
    augment: tuple[str, ...]  # augmentations, applied in this order
    seed: int  # seeds the augmentation's random draws

    @property
    def name(self) -> str:
        return f"{self.index // SHARD_SIZE:04d}/synth{self.index:07d}.flac"


# ---------------------------------------------------------------- sentences


def keep_sentence(sentence: str, normalized: str | None = None) -> bool:
    """True for a sentence the TTS will say as ``normalize_text`` writes it
    (``normalized``: its normalised text, when already known)."""
    if not ALLOWED.match(sentence) or ACRONYM.search(sentence):
        return False
    if INNER_PERIOD.search(sentence.rstrip(".!?\"' \u201d\u2019")):
        return False
    chars = sentence.replace(" ", "")
    if sum(c.isalpha() for c in chars) < MIN_LETTER_SHARE * len(chars):
        return False
    normalized = normalize_text(sentence) if normalized is None else normalized
    return MIN_WORDS <= len(normalized.split()) <= MAX_WORDS


def read_texts(path: Path) -> list[str]:
    """Texts of a JSONL manifest (``text`` key) or of a plain or gzipped text file
    (one a line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in lines]
    return lines


def load_sentences(text_dir: Path, exclude: list[Path]) -> list[tuple[str, str]]:
    """(corpus, sentence) pairs kept by ``keep_sentence``, each normalised text once,
    none whose normalised text is among the texts of ``exclude``."""
    banned = {normalize_text(t) for path in exclude for t in read_texts(path)}
    seen, kept = set(banned), []
    files = sorted(text_dir.glob("*.txt.gz"))
    if not files:
        raise SystemExit(f"error: no *.txt.gz text corpora in {text_dir}")
    for path in files:
        corpus = path.name.removesuffix(".txt.gz")
        for sentence in read_texts(path):
            if not ALLOWED.match(sentence):  # cheap test first
                continue
            key = normalize_text(sentence)
            if key not in seen and keep_sentence(sentence, key):
                seen.add(key)
                kept.append((corpus, sentence))
    return kept


# ---------------------------------------------------------------- voices


def espeak_voices() -> list[str]:
    """English espeak-ng voices that load here (mbrola ones need extra data)."""
    listing = _run(["espeak-ng", "--voices=en"]).decode().splitlines()[1:]
    names = sorted({line.split()[4] for line in listing if len(line.split()) > 4})
    names = [n for n in names if not n.startswith("!v")]  # variants are listed apart
    return [
        n
        for n in names
        if _speaks(["espeak-ng", "-v", n.split("/")[-1], "--stdout", "a"])
    ]


def espeak_variants() -> list[str]:
    """Every espeak-ng voice variant (``-v en+<variant>``), e.g. f3, klatt, whisperf."""
    listing = _run(["espeak-ng", "--voices=variant"]).decode().splitlines()[1:]
    files = [m.group(1) for line in listing if (m := VARIANT_FILE.search(line))]
    return sorted({f for f in files if " " not in f})  # "Mr serious" would need quoting


def flite_voices() -> list[str]:
    """The general-domain flite voices built into the installed flite."""
    listing = _run(["flite", "-lv"]).decode()
    built_in = listing.split(":", 1)[-1].split()
    return [v for v in FLITE_VOICES if v in built_in]


def _speaks(cmd: list[str]) -> bool:
    try:
        return len(_run(cmd)) > 44  # more than a bare WAV header
    except (OSError, subprocess.SubprocessError):
        return False


def _run(cmd: list[str]) -> bytes:
    return subprocess.run(
        cmd, capture_output=True, check=True, timeout=TTS_TIMEOUT_S
    ).stdout


@dataclass(frozen=True)
class Voices:
    espeak: tuple[str, ...]  # base voice file names, e.g. "gmw/en-US"
    variants: tuple[str, ...]  # variant names, e.g. "f3"; "" is the plain voice
    flite: tuple[str, ...]  # flite voice names

    @classmethod
    def installed(cls) -> Voices:
        have_espeak = _which("espeak-ng")
        return cls(
            tuple(espeak_voices()) if have_espeak else (),
            ("", *espeak_variants()) if have_espeak else (),
            tuple(flite_voices()) if _which("flite") else (),
        )


def _which(program: str) -> bool:
    return shutil.which(program) is not None


# ---------------------------------------------------------------- plan


def plan(
    sentences: list[tuple[str, str]],
    voices: Voices,
    hours: float,
    seed: int,
    augment_fraction: float,
) -> list[Utterance]:
    """The first utterances of a seeded shuffle of ``sentences`` whose estimated
    audio adds up to ``hours``; voice, rate, pitch and augmentations drawn per
    utterance from ``seed`` and its index."""
    if not voices.espeak and not voices.flite:
        raise SystemExit("error: neither espeak-ng nor flite is installed")
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    utterances, total = [], 0.0
    for index, k in enumerate(order):
        if total >= hours * 3600:
            break
        corpus, text = sentences[k]
        utterance = _draw(index, corpus, text, voices, seed, augment_fraction)
        utterances.append(utterance)
        total += estimate_seconds(utterance)
    return utterances


def _draw(index, corpus, text, voices, seed, augment_fraction) -> Utterance:
    rng = random.Random(f"{seed}:{index}")
    use_espeak = voices.espeak and (not voices.flite or rng.random() < ESPEAK_SHARE)
    if use_espeak:
        variant = rng.choice(voices.variants)
        voice = rng.choice(voices.espeak) + (f"+{variant}" if variant else "")
        engine, rate, pitch = (
            "espeak-ng",
            rng.randint(*ESPEAK_RATE),
            rng.randint(*ESPEAK_PITCH),
        )
    else:
        engine, voice = "flite", rng.choice(voices.flite)
        rate, pitch = round(rng.uniform(*FLITE_STRETCH), 3), 0
    augment = ()
    if rng.random() < augment_fraction:
        kinds = [k for k in AUGMENTATIONS if rng.random() < 0.5] or [
            rng.choice(list(AUGMENTATIONS))
        ]
        augment = tuple(kinds)
    return Utterance(
        index, text, corpus, engine, voice, rate, pitch, augment, rng.getrandbits(31)
    )


def estimate_seconds(u: Utterance) -> float:
    """Expected duration of the spoken sentence, before any speed change."""
    chars = len(normalize_text(u.text))
    speed = 160 / u.rate if u.engine == "espeak-ng" else u.rate
    return chars * SECONDS_PER_CHAR * speed


# ---------------------------------------------------------------- synthesis


def speak(u: Utterance) -> np.ndarray:
    """Run the TTS engine; (N,) float32 samples at SAMPLE_RATE."""
    with tempfile.TemporaryDirectory(prefix="synth") as tmp:
        wav = Path(tmp) / "out.wav"
        if u.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", u.voice.split("/")[-1], "-s", str(u.rate),
                   "-p", str(u.pitch), "-w", str(wav), "--", u.text]  # fmt: skip
        else:
            cmd = ["flite", "-voice", u.voice, "--setf", f"duration_stretch={u.rate}",
                   "-t", u.text, "-o", str(wav)]  # fmt: skip
        subprocess.run(cmd, capture_output=True, check=True, timeout=TTS_TIMEOUT_S)
        samples, rate = sf.read(str(wav), dtype="float32")
    return prepare_audio(samples, rate, SAMPLE_RATE, name=f"{u.engine} {u.voice}")


def is_done(path: Path) -> bool:
    """A FLAC that exists and opens with at least one sample."""
    try:
        return sf.info(str(path)).frames > 0
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False


def make(u: Utterance, out_dir: Path) -> dict | str:
    """Synthesise one utterance unless its file is already done; its manifest entry,
    or an error message."""
    path = out_dir / u.name
    if not is_done(path):
        try:
            wave = speak(u)
        except (
            subprocess.SubprocessError,
            OSError,
            AudioError,
            sf.LibsndfileError,
        ) as error:
            return f"utterance {u.index} ({u.engine} {u.voice}): {error}"
        if u.augment:
            wave = augment(wave, u.augment, u.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(str(tmp), wave, SAMPLE_RATE, subtype="PCM_16")
        tmp.replace(path)  # atomic: a file at ``path`` is always complete
    info = sf.info(str(path))
    return {
        "audio": str(path),
        "text": normalize_text(u.text),
        "duration": round(info.frames / info.samplerate, 3),
        "voice": f"{u.engine}:{u.voice}",
        "rate": u.rate,
        "pitch": u.pitch,
        "augment": "+".join(u.augment),
        "corpus": u.corpus,
    }


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core: no thread oversubscription


def _make_star(args):
    return make(*args)


def synthesize(utterances: list[Utterance], out_dir: Path, jobs: int) -> list[dict]:
    """Make every utterance (in parallel), write OUT_DIR/manifest.jsonl and return
    its entries; failures are reported on stderr and left out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = [(u, out_dir) for u in utterances]
    bar = tqdm(total=len(work), desc="synthesize", unit="utt")
    if jobs > 1:
        with multiprocessing.Pool(jobs, initializer=_init_worker) as pool:
            results = []
            for result in pool.imap(_make_star, work, chunksize=4):
                results.append(result)
                bar.update()
    else:
        results = []
        for item in work:
            results.append(_make_star(item))
            bar.update()
    bar.close()
    entries = [r for r in results if isinstance(r, dict)]
    for message in (r for r in results if isinstance(r, str)):
        print(f"warning: {message}", file=sys.stderr)
    write_manifest(out_dir / "manifest.jsonl", entries)
    hours = sum(e["duration"] for e in entries) / 3600
    print(
        f"synthesised {len(entries)} utterances, {hours:.2f} h -> "
        f"{out_dir}/manifest.jsonl"
    )
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--text-dir",
        type=Path,
        default=Path("../shared/data/text"),
        help="folder of *.txt.gz corpora, one sentence a line",
    )
    parser.add_argument("--out-dir", type=Path, default=Path("data/english/synth"))
    parser.add_argument(
        "--hours", type=float, default=3.0, help="audio to make (estimated)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="fixes sentences, voices, augmentation"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes"
    )
    parser.add_argument(
        "--augment-fraction",
        type=float,
        default=0.5,
        help="share of utterances that get augmented",
    )
    parser.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        help="manifest (.jsonl) or text file (.txt, .txt.gz) whose "
        "sentences must not be synthesised; repeatable",
    )
    args = parser.parse_args(argv)
    for path in args.exclude:
        if not path.is_file():
            raise SystemExit(f"error: --exclude {path}: no such file")
    sentences = load_sentences(args.text_dir, args.exclude)
    voices = Voices.installed()
    print(
        f"{len(sentences)} sentences; voices: {len(voices.espeak)} espeak-ng x "
        f"{len(voices.variants)} variants, flite {list(voices.flite)}"
    )
    utterances = plan(sentences, voices, args.hours, args.seed, args.augment_fraction)
    (args.out_dir).mkdir(parents=True, exist_ok=True)
    (args.out_dir / "plan.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "hours": args.hours,
                "voices": asdict(voices),
                "utterances": len(utterances),
                "estimated_hours": sum(map(estimate_seconds, utterances)) / 3600,
            },
            indent=1,
        )
    )
    synthesize(utterances, args.out_dir, args.jobs)


if __name__ == "__main__":
    main()
