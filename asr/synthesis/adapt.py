"""``asr adapt``: a model for a domain from text alone.

    asr adapt --grammar commands.ini --base data/models/default.pt --out models/home

1. expand the grammar (or phrase list) to its sentences (``asr.decoding.grammar``);
2. build a domain word LM from them, mixed with ``--text`` files for open
   vocabulary (``asr.decoding.lm``), and list the words the general LM lacks as
   hotwords;
3. speak the sentences (``asr.synthesis.takes``) with the offline TTS voices of
   ``asr.synthesis.tts``, each take with its own voice, rate and pitch, most varied
   further (speaker, room, channel), plus a share of ``--text`` sentences so the
   model keeps other words apart; a few voices are held out for the before/after
   check;
4. fine-tune the base model briefly on that speech, with noise, speed and
   SpecAugment (``asr.training.train``), starting from its weights;
5. write OUT/NAME.pt, NAME.decoder.json, NAME.arpa, NAME.grammar (a copy of the
   grammar), NAME.hotwords.txt and adapt.json (what was done, the figures), a
   folder ``asr transcribe --model OUT`` and ``asr.load_model(OUT)`` load.

Everything is written into a hidden sibling folder, ``.NAME.partial``, renamed to
OUT only when complete: an interrupted run (re-run into an earlier OUT included)
leaves OUT as it was, and the next run picks its spoken takes up again.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf

from ..core.files import regular_file, replace_folder
from ..core.metrics import wer
from ..core.options import bounded_int, positive_float, unit_interval
from ..core.text import CharTokenizer
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
from .takes import MAX_SENTENCE_CHARS, check_lengths, plan_takes, synthesize

LM_SENTENCES = 50_000  # sentences sampled from a grammar too large to list, for its LM


BOUNDS = {  # (low, high) of each number AdaptConfig holds; the CLI checks them too
    "utterances": (1, 1_000_000),
    "other_fraction": (0.0, 1.0),
    "heldout_voices": (1, 1000),  # at least one: the before/after check needs it
    "heldout_sentences": (1, 100_000),
    "vary_fraction": (0.0, 1.0),
    "domain_weight": (1, 10_000),
    "epochs": (1, 1000),
    "lr": (1e-8, 1.0),
    "batch_size": (1, 4096),
    "jobs": (1, 256),
    "seed": (0, 2**31 - 1),
}


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

    def __post_init__(self):
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:  # also False for nan
                raise ValueError(f"{name} must be in [{low}, {high}], not {value}")


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
    """Run every step; returns the report also written to OUT/adapt.json. The
    files are written into ``.NAME.partial`` beside OUT, which replaces OUT at the
    end: until then an earlier OUT stays as it was."""
    started, out = time.time(), Path(cfg.out)
    name = out.name
    for text in cfg.text:  # before minutes of work: /dev/zero or a FIFO is no text
        regular_file(text, "text file")
    grammar = load_grammar(cfg.grammar)
    check_spelling(grammar, CharTokenizer().vocab)
    if grammar.count <= MAX_SENTENCES:
        check_lengths([s.text for s in grammar.sentences], grammar.source)
    check_replaceable(out)
    base = load_model(cfg.base)
    new = out.with_name(f".{name}.partial")
    work = new / "work"
    start_partial(new, out)
    texts = read_sentences([Path(t) for t in cfg.text])
    others = [
        t for t in texts if 3 <= len(t.split()) <= 12 and len(t) <= MAX_SENTENCE_CHARS
    ]
    voice_ids = list(cfg.voices) or [v.id for v in tts.available_voices()]
    training, heldout = plan_takes(grammar, voice_ids, cfg, work, others)
    n_words, extra = write_domain(grammar, cfg, new / name)
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
        new / f"{name}.pt", model_state(encoder, frontend_config, CharTokenizer().vocab)
    )
    after = check(load_model(new / f"{name}.pt"), held_entries, grammar)
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
    (new / "adapt.json").write_text(json.dumps(report, indent=1))
    replace_folder(new, out)
    _print_report(report)
    return report


def check_replaceable(out: Path) -> None:
    """Refuse an OUT that names no folder (``.``) or that holds other files than an
    earlier run's: the new output replaces the whole folder.

    Raises:
        ValueError: saying which.
    """
    if out.name in ("", ".", ".."):
        raise ValueError(
            f"--out {out}: name a folder for the model (its name names the files), "
            "such as models/home"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / "adapt.json").is_file():
        raise ValueError(
            f"--out {out}: a folder with no adapt.json in it (not an earlier "
            "asr adapt output), which the new one would replace"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")


def start_partial(new: Path, out: Path) -> None:
    """An empty ``new`` folder holding only the spoken takes of an interrupted
    run's ``new`` and of the earlier ``out``: nothing else of theirs is kept."""
    stale = new.with_name(new.name + ".stale")
    if stale.exists():
        shutil.rmtree(stale)
    if new.exists():
        new.rename(stale)
    new.mkdir(parents=True)
    for earlier in (stale, out):
        reuse_takes(earlier / "work", new / "work")
    shutil.rmtree(stale, ignore_errors=True)


def reuse_takes(old: Path, new: Path) -> None:
    """Hard-link (else copy) an earlier run's spoken takes into the new work folder,
    so that a re-run speaks only new ones; the earlier files are never changed
    (a take is replaced by renaming, never rewritten in place)."""
    for take in old.glob("*/*.flac"):
        target = new / take.relative_to(old)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(take, target)
        except OSError:
            shutil.copy2(take, target)


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


NUMBER_HELP = {  # each number option's help; its default is shown beside it
    "utterances": "training utterances, spread evenly over the sentences",
    "other_fraction": "share of them saying --text sentences instead",
    "heldout_voices": "voices kept out of training for the before/after check",
    "heldout_sentences": "takes by each held-out voice (sentences in turn)",
    "vary_fraction": "share of takes given another speaker and channel",
    "domain_weight": "times the grammar's sentences count against --text in the LM",
    "epochs": "passes over the synthetic speech",
    "lr": "peak learning rate",
    "batch_size": "utterances per batch",
    "jobs": "processes speaking in parallel",
    "seed": "fixes voices, takes and training",
}


def number_type(name: str):
    """The argparse ``type=`` of a number option: its ``BOUNDS``, checked."""
    low, high = BOUNDS[name]
    if isinstance(low, int):
        return functools.partial(bounded_int, low=low, high=high)
    check = unit_interval if (low, high) == (0.0, 1.0) else positive_float

    def bounded(value: str) -> float:
        number = check(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}]")
        return number

    return bounded


def out_folder(value: str) -> str:
    """An ``--out`` whose last part names the model (not ``.``, ``..`` or ``/``)."""
    if Path(value).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(
            f"{value!r:.40} names no folder; give one whose name names the model, "
            "such as models/home"
        )
    return value


def build_parser(parser: argparse.ArgumentParser | None = None):
    parser = parser or argparse.ArgumentParser(
        prog="asr adapt", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Adapt a model to a domain from text alone: grammar -> LM, "
        "synthetic speech, brief fine-tuning (docs/grammars.md)."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    required = {"default": argparse.SUPPRESS}  # no "(default: None)" in --help
    source.add_argument(
        "--grammar", help="grammar file (templates or JSGF)", **required
    )
    source.add_argument(
        "--phrases", dest="grammar", help="phrase list, one a line", **required
    )
    defaults = AdaptConfig()
    parser.add_argument(
        "--text",
        nargs="+",
        default=[],
        help="more text for the LM, one sentence a line (.gz ok)",
    )
    parser.add_argument("--base", default=defaults.base, help="model to start from")
    parser.add_argument(
        "--out",
        required=True,
        type=out_folder,
        **required,
        help="output folder (its name names the files); an earlier one is replaced "
        "only when the new one is complete",
    )
    for name, help_text in NUMBER_HELP.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=number_type(name),
            default=getattr(defaults, name),
            help=help_text,
        )
    parser.add_argument(
        "--voices",
        nargs="+",
        default=[],
        help="TTS voice ids (engine:name) to use; default: all",
    )
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
