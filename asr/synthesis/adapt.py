"""``asr adapt``: a model for a domain from text alone.

    asr adapt --grammar commands.ini --base data/models/default.pt --out models/home

1. expand the grammar (or phrase list) to its sentences (``asr.decoding.grammar``);
2. build a domain word LM from them, mixed with ``--text`` files for open
   vocabulary (``asr.decoding.lm``), and list the words the general LM lacks as
   hotwords;
3. speak the sentences with the offline TTS voices of ``asr.synthesis.tts``, each
   take with its own voice, rate and pitch, most varied further (speaker, room,
   channel), plus a share of ``--text`` sentences so the model keeps other words
   apart; a few voices are held out for the before/after check;
4. fine-tune the base model briefly on that speech, with noise, speed and
   SpecAugment (``asr.training.train``), starting from its weights;
5. write OUT/NAME.pt, NAME.decoder.json, NAME.arpa, NAME.grammar (a copy of the
   grammar), NAME.hotwords.txt and adapt.json (what was done, the figures), a
   folder ``asr transcribe --model OUT`` and ``asr.load_model(OUT)`` load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from ..audio.io import SAMPLE_RATE, AudioError
from ..core.files import regular_file
from ..core.metrics import wer
from ..core.text import CharTokenizer
from ..data.manifest import write_manifest
from ..decoding.arpa import write_arpa
from ..decoding.grammar import MAX_SENTENCES, Grammar, GrammarError, load_grammar
from ..decoding.lm import LMConfig, estimate, lm_words, read_sentences
from ..decoding.match import check_spelling
from ..decoding.settings import DEFAULT_LM
from ..inference.transcribe import load_model
from ..model.checkpoint import (
    CheckpointError,
    configs_from_state,
    load_checkpoint,
    model_state,
)
from ..synthesis import tts
from ..training import distributed
from ..training.augment import AugmentConfig
from ..training.checkpoint import save_checkpoint
from ..training.train import TrainConfig, Trainer

LM_SENTENCES = 50_000  # sentences sampled from a grammar too large to list, for its LM


@dataclass(frozen=True)
class AdaptConfig:
    grammar: str = ""  # grammar or phrase list file (docs/grammars.md)
    base: str = "data/models/default.pt"  # model to start from
    out: str = "models/adapted"  # output folder; its name names the files
    text: tuple[str, ...] = ()  # more text for the LM (open vocabulary)
    utterances: int = 600  # training utterances, spread evenly over the sentences
    other_fraction: float = 0.25  # share of them saying --text sentences instead
    heldout_voices: int = 2  # voices kept out of training for the check
    heldout_sentences: int = 60  # takes by each held-out voice (sentences in turn)
    vary_fraction: float = 0.7  # share of takes given another speaker and channel
    domain_weight: int = 10  # times the grammar's sentences count against --text
    epochs: int = 4  # passes over the synthetic speech
    lr: float = 5e-4  # peak learning rate (the base trained at 2e-3)
    batch_size: int = 16  # utterances per batch
    jobs: int = 2  # processes speaking in parallel
    seed: int = 0  # fixes voices, takes and training
    voices: tuple[str, ...] = ()  # TTS voice ids to use (default: every installed one)


# -- speech -------------------------------------------------------------------------


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
    pairs = [(voice, text) for voice in held for text in checked]
    heldout = [take(t, v, "heldout", i) for i, (v, t) in enumerate(pairs)]
    return training, heldout


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


# -- language model and hotwords ----------------------------------------------------


def build_lm(grammar: Grammar, text_files: list[Path], weight: int, path: Path) -> int:
    """A trigram LM of the sentences (counted ``weight`` times) and the text files;
    returns the number of words in it."""
    if grammar.count <= MAX_SENTENCES:  # a small grammar: each sentence, weight times
        sentences = [s.text for s in grammar.sentences] * max(1, weight)
    else:  # a large one: a uniform sample over its paths stands for it
        sentences = [s.text for s in grammar.sample(LM_SENTENCES)]
    sentences += read_sentences(text_files) if text_files else []
    orders = estimate(sentences, LMConfig(order=3, min_counts=(1, 1, 1)))
    write_arpa(path, orders)
    return len(orders[0]) - 3  # without <unk>, <s>, </s>


def hotwords(grammar: Grammar, general_lm: Path, bonus: float = 3.0) -> list[str]:
    """``word:bonus`` lines for the grammar's words that the general LM lacks."""
    known = set(lm_words(general_lm)) if general_lm.is_file() else set()
    words = grammar.graph.words()
    return [f"{w}:{bonus:g}" for w in words if w not in known]


# -- fine-tuning and the check ------------------------------------------------------


def fine_tune(base: Path, manifest: Path, out_dir: Path, cfg: AdaptConfig):
    """Train on ``manifest`` from the base model's weights; the trained encoder."""
    state = load_checkpoint(base)
    if list(state["vocab"]) != CharTokenizer().vocab:
        raise CheckpointError(f"{base}: its labels differ from the trainer's")
    model_config, frontend_config = configs_from_state(state)
    train_cfg = TrainConfig(
        train_manifest=str(manifest),
        out_dir=str(out_dir),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        max_batch_seconds=60.0,
        lr=cfg.lr,
        warmup_steps=10,
        num_workers=0,
        seed=cfg.seed,
        save_every_steps=0,
        augment=AugmentConfig(
            speed_factors=(0.9, 1.0, 1.1),
            noise_prob=0.3,
            noise_snr_db=(10.0, 30.0),
            freq_masks=2,
            time_masks=2,
            time_mask_width=10,
        ),
        model=model_config,
        frontend=frontend_config,
    )
    info, device = distributed.init_distributed("cpu")
    trainer = Trainer(train_cfg, info, device)
    trainer.encoder.load_state_dict(state["model"])
    trainer.fit()
    return trainer.encoder, train_cfg.frontend


def check(model, entries: list[dict], grammar: Grammar) -> dict:
    """Sentence accuracy with the grammar (no [unk]) and greedy WER on ``entries``."""
    decoder = model.grammar_decoder(grammar, allow_unk=False)
    waves = [sf.read(e["audio"], dtype="float32")[0] for e in entries]
    matches = model.transcribe_batch(waves, decoder=decoder)
    free = model.transcribe_batch(waves, decoder="greedy")
    refs = [e["text"] for e in entries]
    correct = sum(m.text == r for m, r in zip(matches, refs, strict=True))
    return {
        "utterances": len(entries),
        "sentence_accuracy": correct / len(entries),
        "greedy_wer": wer(refs, free),
    }


# -- the command --------------------------------------------------------------------


def write_domain(grammar: Grammar, cfg: AdaptConfig, stem: Path) -> tuple[int, list]:
    """STEM.arpa (the domain LM), STEM.decoder.json (beam search over it),
    STEM.hotwords.txt and STEM.grammar; returns the LM's word count and hotwords."""
    texts = [Path(t) for t in cfg.text]
    n_words = build_lm(grammar, texts, cfg.domain_weight, Path(f"{stem}.arpa"))
    settings = {"beam_size": 50, "lm_weight": 1.0, "word_score": 0.0,
                "lm": f"{stem.name}.arpa"}  # fmt: skip
    Path(f"{stem}.decoder.json").write_text(json.dumps(settings, indent=1))
    extra = hotwords(grammar, DEFAULT_LM)
    Path(f"{stem}.hotwords.txt").write_text("".join(f"{h}\n" for h in extra))
    shutil.copyfile(cfg.grammar, f"{stem}.grammar")
    slots = Path(cfg.grammar).parent / "slots"
    if slots.is_dir():  # the grammar's $lists go with it, beside the copy
        shutil.copytree(slots, stem.parent / "slots", dirs_exist_ok=True)
    return n_words, extra


def adapt(cfg: AdaptConfig) -> dict:
    """Run every step; returns the report also written to OUT/adapt.json."""
    started, out = time.time(), Path(cfg.out)
    name = out.name
    for text in cfg.text:  # before minutes of work: /dev/zero or a FIFO is no text
        regular_file(text, "text file")
    grammar = load_grammar(cfg.grammar)
    check_spelling(grammar, CharTokenizer().vocab)
    base = load_model(cfg.base)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    n_words, extra = write_domain(grammar, cfg, out / name)
    others = [t for t in read_sentences([Path(t) for t in cfg.text])
              if 3 <= len(t.split()) <= 12]  # fmt: skip
    voice_ids = list(cfg.voices) or [v.id for v in tts.available_voices()]
    training, heldout = plan_takes(grammar, voice_ids, cfg, work, others)
    print(
        f"{grammar.count:.3g} sentences, LM of {n_words} words, "
        f"{len(extra)} new words; {len(training)} training takes, "
        f"{len(heldout)} held-out takes"
    )
    train_entries = synthesize(training, work / "train.jsonl", cfg.jobs, "speak")
    held_entries = synthesize(heldout, work / "heldout.jsonl", cfg.jobs, "held-out")
    before = check(base, held_entries, grammar)
    encoder, frontend_config = fine_tune(
        Path(cfg.base), work / "train.jsonl", work / "train", cfg
    )
    save_checkpoint(
        out / f"{name}.pt", model_state(encoder, frontend_config, CharTokenizer().vocab)
    )
    after = check(load_model(out / f"{name}.pt"), held_entries, grammar)
    report = {
        "config": asdict(cfg),
        "sentences": grammar.count,
        "training_utterances": len(train_entries),
        "training_hours": sum(e["duration"] for e in train_entries) / 3600,
        "heldout_voices": sorted({e["voice"] for e in held_entries}),
        "before": before,
        "after": after,
        "seconds": round(time.time() - started),
    }
    (out / "adapt.json").write_text(json.dumps(report, indent=1))
    _print_report(report)
    return report


def _print_report(report: dict) -> None:
    voices_ = ", ".join(report["heldout_voices"])
    print(f"held-out voices ({voices_}), {report['before']['utterances']} utterances:")
    for when in ("before", "after"):
        r = report[when]
        print(
            f"  {when:<6}  sentence accuracy {100 * r['sentence_accuracy']:5.1f} %"
            f"   greedy WER {100 * r['greedy_wer']:5.1f} %"
        )
    print(f"done in {report['seconds']} s")


def build_parser(parser: argparse.ArgumentParser | None = None):
    parser = parser or argparse.ArgumentParser(prog="asr adapt")
    parser.description = (
        "Adapt a model to a domain from text alone: grammar -> LM, "
        "synthetic speech, brief fine-tuning (docs/grammars.md)."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grammar", help="grammar file (templates or JSGF)")
    source.add_argument("--phrases", dest="grammar", help="phrase list, one a line")
    defaults = AdaptConfig()
    parser.add_argument(
        "--text",
        nargs="+",
        default=[],
        help="more text for the LM, one sentence a line (.gz ok)",
    )
    parser.add_argument("--base", default=defaults.base, help="model to start from")
    parser.add_argument("--out", required=True, help="output folder (names the files)")
    for name in (
        "utterances",
        "heldout_voices",
        "heldout_sentences",
        "epochs",
        "batch_size",
        "jobs",
        "seed",
        "domain_weight",
    ):
        parser.add_argument(
            "--" + name.replace("_", "-"), type=int, default=getattr(defaults, name)
        )
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument(
        "--voices",
        nargs="+",
        default=[],
        help="TTS voice ids (engine:name) to use; default: all",
    )
    parser.add_argument("--vary-fraction", type=float, default=defaults.vary_fraction)
    parser.add_argument("--other-fraction", type=float, default=defaults.other_fraction)
    return parser


def run(args: argparse.Namespace) -> int:
    values = {
        k: v for k, v in vars(args).items() if k in AdaptConfig.__dataclass_fields__
    }
    cfg = AdaptConfig(
        **{**values, "text": tuple(args.text), "voices": tuple(args.voices)}
    )
    try:
        adapt(cfg)
    except (GrammarError, CheckpointError, ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1 if isinstance(error, RuntimeError) else 2
    return 0
