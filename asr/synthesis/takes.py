"""The speech of ``asr adapt``: which sentence each voice says (``plan_takes``), and
speaking them in parallel into FLAC takes and a manifest (``synthesize``)."""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile as sf
import torch
from tqdm import tqdm

from ..audio.io import SAMPLE_RATE, AudioError
from ..data.manifest import write_manifest
from ..decoding.grammar import MAX_SENTENCES, Grammar
from . import tts

if TYPE_CHECKING:
    from .adapt import AdaptConfig

MAX_SENTENCE_CHARS = 400  # a spoken sentence: about 25 s at 16 characters a second
MAX_TAKE_SECONDS = 40.0  # a take longer than that is refused (training holds it whole)


@dataclass(frozen=True)
class Take:
    text: str  # normalised sentence
    voice: str  # voice id
    rate: float  # speaking rate factor
    pitch: float  # pitch factor
    vary_seed: int  # 0: as the voice says it; else the seed of its variation
    path: str  # where the FLAC goes


def plan_takes(
    grammar: Grammar,
    voice_ids: list[str],
    cfg: AdaptConfig,
    folder: Path,
    others: list[str] = (),
) -> tuple[list[Take], list[Take]]:
    """Training takes (by every voice but the held-out ones: the grammar's
    sentences in turn, plus ``other_fraction`` of ``others``) and held-out takes."""
    rng = random.Random(cfg.seed)
    if len(voice_ids) <= cfg.heldout_voices:
        raise ValueError(
            f"only {len(voice_ids)} TTS voices: need more than "
            f"--heldout-voices {cfg.heldout_voices}"
        )
    shuffled = rng.sample(voice_ids, len(voice_ids))
    held, train = shuffled[: cfg.heldout_voices], shuffled[cfg.heldout_voices :]
    n_other = min(len(others), round(cfg.utterances * cfg.other_fraction))
    n_domain = max(1, cfg.utterances - n_other)
    texts = domain_sentences(grammar, n_domain, rng) + rng.sample(list(others), n_other)

    def take(text, voice, kind, i):
        seed = rng.randrange(1, 2**31) if rng.random() < cfg.vary_fraction else 0
        rate, pitch = rng.uniform(0.85, 1.2), rng.uniform(0.85, 1.15)
        rate, pitch = round(rate, 3), round(pitch, 3)
        key = hashlib.sha1(f"{text}|{voice}|{rate}|{pitch}|{seed}".encode()).hexdigest()
        path = folder / kind / f"{i:06d}-{key[:10]}.flac"  # a changed plan: new names
        return Take(text, voice, rate, pitch, seed, str(path))

    training = [take(t, rng.choice(train), "train", i) for i, t in enumerate(texts)]
    checked = domain_sentences(grammar, cfg.heldout_sentences, rng)
    check_lengths(texts + checked, grammar.source)
    pairs = [(voice, text) for voice in held for text in checked]
    heldout = [take(t, v, "heldout", i) for i, (v, t) in enumerate(pairs)]
    return training, heldout


def check_lengths(sentences: list[str], source: str = "") -> None:
    """Refuse a sentence too long to speak and train on, before any is spoken: a
    100,000-letter one made a 16 MB take, then asked training for 34 GB.

    Raises:
        ValueError: naming the first such sentence (its start).
    """
    for text in sentences:
        if len(text) > MAX_SENTENCE_CHARS:
            raise ValueError(
                f"{source}: a sentence of {len(text)} characters; at most "
                f"{MAX_SENTENCE_CHARS} are spoken: {text[:60]!r}..."
            )


def domain_sentences(grammar: Grammar, count: int, rng: random.Random) -> list[str]:
    """``count`` sentences of the grammar: for one small enough to list, each in turn
    (or a sample); else drawn uniformly over its paths, so that every value of a
    slot comes up as often as the others (never listing the grammar)."""
    if grammar.count <= MAX_SENTENCES:
        return _spread([s.text for s in grammar.sentences], count, rng)
    return [s.text for s in grammar.sample(count, seed=rng.randrange(2**31))]


def _spread(sentences: list[str], count: int, rng: random.Random) -> list[str]:
    """``count`` sentences: each in turn (again and again), or a sample of them."""
    if count >= len(sentences):
        return [sentences[i % len(sentences)] for i in range(count)]
    return rng.sample(sentences, count)


def _make(take: Take) -> dict | str:
    """Speak one take (unless its file exists); its manifest entry or an error."""
    path = Path(take.path)
    if not path.exists():
        try:
            voice = tts.find_voice(take.voice)
            wave = tts.speak(voice, take.text, rate=take.rate, pitch=take.pitch)
            if take.vary_seed:
                wave = tts.vary(wave, take.vary_seed)
            if len(wave) > MAX_TAKE_SECONDS * SAMPLE_RATE:
                seconds = len(wave) / SAMPLE_RATE
                raise ValueError(f"{seconds:.0f} s long; at most {MAX_TAKE_SECONDS:g}")
        except (OSError, AudioError, RuntimeError, ValueError) as error:
            return f"{take.voice} {take.text!r}: {error}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(
            str(path.with_suffix(".tmp.flac")), wave, SAMPLE_RATE, subtype="PCM_16"
        )
        path.with_suffix(".tmp.flac").replace(path)
    frames = sf.info(str(path)).frames
    return {
        "audio": str(path),
        "text": take.text,
        "duration": frames / SAMPLE_RATE,
        "voice": take.voice,
        "varied": bool(take.vary_seed),
    }


def _init_worker() -> None:
    torch.set_num_threads(1)


def synthesize(takes: list[Take], manifest: Path, jobs: int, desc: str) -> list[dict]:
    """Speak every take in ``jobs`` processes; write and return the manifest."""
    results = []
    with multiprocessing.get_context("fork").Pool(jobs, _init_worker) as pool:
        for result in tqdm(
            pool.imap(_make, takes, chunksize=4),
            total=len(takes),
            desc=desc,
            unit="utt",
        ):
            results.append(result)
    failed = [r for r in results if isinstance(r, str)]
    for message in failed[:5]:
        print(f"warning: {message}", file=sys.stderr)
    entries = [r for r in results if isinstance(r, dict)]
    if len(failed) > len(results) // 10:
        raise RuntimeError(f"{len(failed)} of {len(results)} takes failed to speak")
    write_manifest(manifest, entries)
    return entries
