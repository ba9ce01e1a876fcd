r"""Synthesise English training speech from text with every pinned offline voice.

    python recipes/english/synthesize.py --hours 30 --jobs 2 \
        --exclude ../shared/data/speech/vctk_p239/manifest.jsonl \
        --exclude ../shared/data/speech/kathleen/manifest.jsonl

Sentences come from the openly licensed corpora in ``--text-dir`` (*.txt.gz, one
sentence a line). Each is spoken by one voice of ``asr.synthesis.tts.VOICES`` installed
here (``install_voices.sh``), the engine drawn by ``ENGINE_SHARE`` (most of it the
voices made from human speech: piper, hibari, RHVoice, festival, MBROLA, Pico), with a
random speaking rate and, where the engine has one, pitch; then
``asr.synthesis.tts.vary`` makes it another speaker (vocal-tract length, tempo) at
realistic edges (room tone, breath) in another channel (room, microphone, noise,
telephone). The output is

    OUT_DIR/<shard>/<id>.flac   16 kHz mono FLAC, 1000 files a shard
    OUT_DIR/manifest.jsonl      {"audio", "text", "duration", "engine", "voice",
                                 "variant", "rate", "pitch", "variation", "corpus"}
    OUT_DIR/plan.json           seed, voices and size of the plan
    OUT_DIR/speed.json          per engine: audio seconds made and seconds taken

The plan (which sentence, voice, rate, pitch and variation each utterance gets)
depends only on ``--seed``, the text, the exclusions and the voices installed, so a
run is deterministic and resumable: an utterance whose FLAC exists and opens is not
made again, and the manifest is rebuilt from the files on disk (every
``CHECKPOINT_EVERY`` utterances, so a long run can be used before it ends).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from asr.audio.io import SAMPLE_RATE, AudioError
from asr.core.options import run_script
from asr.core.text import normalize_text
from asr.data.manifest import write_manifest
from asr.synthesis import tts
from asr.synthesis.channel import apply_variation, draw_variation

MIN_WORDS, MAX_WORDS = 3, 25  # sentence length kept, in normalised words
MIN_LETTER_SHARE = 0.75  # letters among the non-space characters of a kept sentence
# Characters a kept sentence may hold: no digits or symbols, whose spoken form the
# TTS and our normaliser would spell differently ("1990", "&", "$").
ALLOWED = re.compile(r"^[A-Za-z ,;:!?'\"\-\u2018\u2019\u201c\u201d().]+$")
ACRONYM = re.compile(r"\b[A-Z]{2,}\b")  # read letter by letter by the TTS, not by us
INNER_PERIOD = re.compile(r"\.(?!\s*$)")  # "Mr.", "U.S.": spoken otherwise than written
ENGINE_SHARE = {  # share of the utterances per engine (renormalised over the engines
    #               installed), then a voice of the engine uniformly: 76 % go to the
    #               voices made from human speech, 24 % to espeak-ng and flite
    "hibari": 0.16, "piper": 0.10, "rhvoice": 0.13, "festival": 0.13,
    "mbrola": 0.16, "pico": 0.08, "espeak-ng": 0.14, "flite": 0.10,
}  # fmt: skip
RATE = (0.85, 1.2)  # speaking rate factor given to the engine, uniform
PITCH = {  # pitch factor range of the engines with a pitch control, uniform
    "espeak-ng": (0.4, 1.6), "mbrola": (0.6, 1.5), "rhvoice": (0.75, 1.35),
    "pico": (0.8, 1.3),
}  # fmt: skip
STRENGTH = (0.3, 1.0)  # per-utterance variation strength, uniform, times --strength
SECONDS_PER_CHAR = 0.066  # measured: espeak-ng en-US at 160 wpm, flite kal at 1.0
EDGE_SECONDS = 0.5  # expected room tone added around the speech, less engine silence
SHARD_SIZE = 1000  # files per shard folder
CHECKPOINT_EVERY = 500  # utterances between manifest rewrites
VARIANT_FILE = re.compile(r"!v/(.*?)(?:\s{2,}|\s*$)")  # File column of --voices=variant


@dataclass(frozen=True)
class Utterance:
    index: int  # position in the plan; names the file
    text: str  # the sentence as written in the corpus (spoken with its punctuation)
    corpus: str  # text file it came from, without .txt.gz
    voice: str  # asr.synthesis.tts voice id, "engine:name"
    variant: str  # espeak-ng voice variant ("" for none and for other engines)
    rate: float  # speaking rate factor
    pitch: float  # pitch factor (1.0 for engines without a pitch control)
    strength: float  # asr.synthesis.channel variation strength
    seed: int  # seeds the engine (hibari) and the variation

    @property
    def name(self) -> str:
        return f"{self.index // SHARD_SIZE:04d}/synth{self.index:07d}.flac"

    @property
    def engine(self) -> str:
        return self.voice.split(":", 1)[0]


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


# ---------------------------------------------------------------- plan


def espeak_variants() -> tuple[str, ...]:
    """Every espeak-ng voice variant (``-v en+<variant>``), e.g. f3, klatt, whisperf."""
    listing = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[1:]
    files = [m.group(1) for line in listing if (m := VARIANT_FILE.search(line))]
    return tuple(sorted({f for f in files if " " not in f}))  # no "Mr serious"


def plan(
    sentences: list[tuple[str, str]],
    voices: tuple[tts.Voice, ...],
    hours: float,
    seed: int,
    strength: float = 1.0,
    variants: tuple[str, ...] = (),
) -> list[Utterance]:
    """The first utterances of a seeded shuffle of ``sentences`` whose estimated
    audio adds up to ``hours``; voice, rate, pitch and variation strength drawn per
    utterance from ``seed`` and its index. ``variants``: espeak-ng variants."""
    if not voices:
        raise SystemExit(
            "error: no TTS voice installed (run recipes/english/install_voices.sh)"
        )
    by_engine: dict[str, list[tts.Voice]] = {}
    for voice in voices:
        by_engine.setdefault(voice.engine, []).append(voice)
    engines = sorted(by_engine)
    weights = [ENGINE_SHARE.get(e, 0.05) for e in engines]
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    utterances, total = [], 0.0
    for index, k in enumerate(order):
        if total >= hours * 3600:
            break
        rng = random.Random(f"{seed}:{index}")
        voice = rng.choice(by_engine[rng.choices(engines, weights)[0]])
        variant = rng.choice(("", *variants)) if voice.engine == "espeak-ng" else ""
        low, high = PITCH.get(voice.engine, (1.0, 1.0))
        utterance = Utterance(
            index, sentences[k][1], sentences[k][0], voice.id, variant,
            round(rng.uniform(*RATE), 3), round(rng.uniform(low, high), 3),
            round(strength * rng.uniform(*STRENGTH), 3), rng.getrandbits(31),
        )  # fmt: skip
        utterances.append(utterance)
        total += estimate_seconds(utterance)
    return utterances


def estimate_seconds(u: Utterance) -> float:
    """Expected duration of the spoken sentence with its edges."""
    return len(normalize_text(u.text)) * SECONDS_PER_CHAR / u.rate + EDGE_SECONDS


# ---------------------------------------------------------------- synthesis


def is_done(path: Path) -> bool:
    """A FLAC that exists and opens with at least one sample."""
    try:
        return sf.info(str(path)).frames > 0
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False


def make(u: Utterance, out_dir: Path) -> tuple[dict | str, float]:
    """Synthesise one utterance unless its file is already done: its manifest entry
    (or an error message) and the seconds it took (0 when it was done)."""
    path = out_dir / u.name
    variation = draw_variation(u.seed, u.strength)
    seconds = 0.0
    if not is_done(path):
        start = time.perf_counter()
        try:
            wave = tts.speak(tts.find_voice(u.voice), u.text, seed=u.seed,
                             rate=u.rate, pitch=u.pitch, variant=u.variant)  # fmt: skip
            wave = apply_variation(wave, variation, u.seed)
        except (subprocess.SubprocessError, OSError, AudioError, ValueError,
                sf.LibsndfileError) as error:  # fmt: skip
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"utterance {u.index} ({u.voice}): {first}", 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(str(tmp), wave, SAMPLE_RATE, subtype="PCM_16")
        tmp.replace(path)  # atomic: a file at ``path`` is always complete
        seconds = time.perf_counter() - start
    info = sf.info(str(path))
    entry = {
        "audio": str(path),
        "text": normalize_text(u.text),
        "duration": round(info.frames / info.samplerate, 3),
        "engine": u.engine,
        "voice": u.voice,
        "variant": u.variant,
        "rate": u.rate,
        "pitch": u.pitch,
        "variation": variation.describe(),
        "corpus": u.corpus,
    }
    return entry, seconds


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core: no thread oversubscription


def _make_star(args):
    return make(*args)


class Progress:
    """Collects results in plan order; rewrites the manifest and the speed table
    every ``CHECKPOINT_EVERY`` results and at the end."""

    def __init__(self, out_dir: Path, total: int):
        self.out_dir, self.entries, self.errors = out_dir, [], []
        self.speed: dict[str, list[float]] = {}  # engine -> [audio s, seconds taken]
        interactive = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc="synthesize", unit="utt",
                        mininterval=0.1 if interactive else 30)  # fmt: skip

    def add(self, result: dict | str, seconds: float) -> None:
        if isinstance(result, str):
            self.errors.append(result)
            print(f"warning: {result}", file=sys.stderr)
        else:
            self.entries.append(result)
            if seconds:
                done = self.speed.setdefault(result["engine"], [0.0, 0.0])
                done[0] += result["duration"]
                done[1] += seconds
        self.bar.update()
        if self.bar.n % CHECKPOINT_EVERY == 0:
            self.write()

    def write(self) -> None:
        write_manifest(self.out_dir / "manifest.jsonl", self.entries)
        table = {e: {"audio_s": round(a, 1), "seconds": round(s, 1),
                     "x_real_time": round(a / s, 1)}
                 for e, (a, s) in sorted(self.speed.items()) if s}  # fmt: skip
        (self.out_dir / "speed.json").write_text(json.dumps(table, indent=1) + "\n")


def synthesize(utterances: list[Utterance], out_dir: Path, jobs: int) -> list[dict]:
    """Make every utterance (in parallel), write OUT_DIR/manifest.jsonl and return
    its entries; failures are reported on stderr and left out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = [(u, out_dir) for u in utterances]
    progress = Progress(out_dir, len(work))
    if jobs > 1:
        with multiprocessing.Pool(jobs, initializer=_init_worker) as pool:
            for result in pool.imap(_make_star, work, chunksize=4):
                progress.add(*result)
    else:
        for item in work:
            progress.add(*_make_star(item))
    progress.bar.close()
    progress.write()
    hours = sum(e["duration"] for e in progress.entries) / 3600
    print(f"synthesised {len(progress.entries)} utterances, {hours:.2f} h -> "
          f"{out_dir}/manifest.jsonl; {len(progress.errors)} failed")  # fmt: skip
    for engine, row in json.loads((out_dir / "speed.json").read_text()).items():
        audio, taken, speed = row["audio_s"], row["seconds"], row["x_real_time"]
        print(f"  {engine:10} {audio:9.1f} s of audio made in {taken:8.1f} s: "
              f"{speed:6.1f}x real time")  # fmt: skip
    return progress.entries


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add(
        "--text-dir",
        type=Path,
        default=Path("../shared/data/text"),
        help="folder of *.txt.gz corpora, one sentence a line",
    )
    add("--out-dir", type=Path, default=Path("data/english/synth"))
    add("--hours", type=float, default=3.0, help="audio to make (estimated)")
    add("--seed", type=int, default=0, help="fixes sentences, voices, variation")
    add("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    add(
        "--strength",
        type=float,
        default=1.0,
        help="speaker/channel variation strength (0: none)",
    )
    add(
        "--engines",
        nargs="+",
        choices=sorted(ENGINE_SHARE),
        help="only these engines (default: every one installed)",
    )
    add(
        "--skip-voices",
        nargs="+",
        default=[],
        metavar="TEXT",
        help="leave out the voices whose id contains TEXT, e.g. 'mbrola' (the "
        "MBROLA databases, also under festival's *_mbrola voices)",
    )
    add(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        help="manifest (.jsonl) or text file (.txt, .txt.gz) whose sentences must "
        "not be synthesised; repeatable",
    )
    return parser  # fmt: skip


def select_voices(engines: list[str] | None, skip: list[str]) -> tuple[tts.Voice, ...]:
    """The installed voices of ``engines`` (all if None) whose id contains no text
    of ``skip``."""
    return tuple(
        v
        for v in tts.available_voices()
        if (not engines or v.engine in engines) and not any(t in v.id for t in skip)
    )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    for path in args.exclude:
        if not path.is_file():
            raise SystemExit(f"error: --exclude {path}: no such file")
    sentences = load_sentences(args.text_dir, args.exclude)
    voices = select_voices(args.engines, args.skip_voices)
    variants = espeak_variants() if any(v.engine == "espeak-ng" for v in voices) else ()
    missing = [v.id for v in tts.VOICES if v not in voices]
    print(f"{len(sentences)} sentences; {len(voices)} of {len(tts.VOICES)} voices "
          f"(+{len(variants)} espeak-ng variants); not used: "
          f"{missing or 'none'}")  # fmt: skip
    utterances = plan(sentences, voices, args.hours, args.seed, args.strength, variants)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "seed": args.seed, "hours": args.hours, "strength": args.strength,
        "voices": [v.id for v in voices], "espeak_variants": list(variants),
        "utterances": len(utterances),
        "estimated_hours": round(sum(map(estimate_seconds, utterances)) / 3600, 3),
    }  # fmt: skip
    (args.out_dir / "plan.json").write_text(json.dumps(summary, indent=1) + "\n")
    synthesize(utterances, args.out_dir, args.jobs)


if __name__ == "__main__":
    sys.exit(run_script(main))
