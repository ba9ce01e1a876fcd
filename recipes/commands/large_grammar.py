r"""A large grammar on synthetic speech: accuracy, slots, false accepts, speed and
calibrated confidence, ours beside PocketSphinx (FSG search) on the same clips
and grammar.

    python recipes/commands/large_grammar.py --model data/models/default.pt \
        --out exp/commands/coffee --systems ours pocketsphinx

1. Speak ``--clips`` sentences drawn uniformly from the grammar's paths
   (recipes/commands/coffee/order.ini: 1.8 x 10^8 sentences, six slots) and ``--oog``
   out-of-grammar sentences of 4-12 words (``--oog-text``; by default the CMU
   ARCTIC prompts in ../shared/data/text) with the installed voices of the offline TTS
   engines ``--engines`` (``asr.synthesis.tts``; espeak-ng and flite by default),
   speaking rate 0.9-1.15; cached as FLAC.
2. Split by voice: the clips of every other voice fit the confidence temperature
   (``asr.decoding.match.TEMPERATURE``: the T minimising the log loss of "the answer
   is right" given softmax(scores / T)); the other voices' clips are held out, and
   every figure below is measured on them only.
3. Report sentence accuracy, slot accuracy, false accepts (out-of-grammar clips given
   a sentence), real-time factor on one thread, and for ours the expected
   calibration error (10 equal-width bins) with T = 1 and with the fitted T, and a
   reliability diagram (``reliability.png``).

No test set is read: the clips are synthetic, from sentences nobody trained on.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.core.metrics import calibration, reliability_lines
from asr.core.options import run_script
from asr.core.text import normalize_text
from asr.decoding.grammar import UNK, load_grammar
from asr.decoding.match import UNK_PENALTY, grammar_decoder
from asr.inference import peers
from asr.inference.pictures import reliability_figure
from asr.inference.transcribe import load_model
from asr.synthesis import tts

HERE = Path(__file__).resolve().parent
GRAMMAR = HERE / "coffee" / "order.ini"
OOG_TEXT = Path("../shared/data/text/cmu_arctic_prompts.txt.gz")
EXTRA_WORDS = {"macchiato": "M AA K IY AA T OW", "cortado": "K AO R T AA D OW"}
ENGINES = ("espeak-ng", "flite")  # the voices every machine of `make test` has
PER_CHAR = [round(0.1 * k, 1) for k in range(0, 31)]  # 0 ... 3 nats a character
TEMPERATURES = [round(0.01 * k, 2) for k in range(0, 101)]  # 0 ... 1 nats a char


def plan(
    grammar, clips: int, oog: int, seed: int, oog_text: Path, engines=ENGINES
) -> list[dict]:
    """(text, slots, voice, rate) per clip; out-of-grammar clips have text [unk]."""
    rng = random.Random(seed)
    voices = [v.id for v in tts.available_voices() if v.engine in engines]
    if not voices:
        raise SystemExit(f"error: no voice of {', '.join(engines)} is installed")
    rows = [{"text": s.text, "slots": dict(s.slots), "said": s.text}
            for s in grammar.sample(clips, seed)]  # fmt: skip
    with gzip.open(oog_text, "rt", encoding="utf-8") as f:
        lines = [normalize_text(x) for x in f if 4 <= len(x.split()) <= 12]
    outside = [t for t in lines if grammar.find(t) is None]
    rows += [{"text": UNK, "slots": {}, "said": t} for t in rng.sample(outside, oog)]
    for row in rows:
        row["voice"], row["rate"] = rng.choice(voices), round(rng.uniform(0.9, 1.15), 2)
    return rows


def synthesize(rows: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        key = hashlib.sha1(f"{row['said']}|{row['voice']}|{row['rate']}".encode())
        row["audio"] = str(folder / f"{key.hexdigest()[:16]}.flac")
        if not Path(row["audio"]).exists():
            wave = tts.speak(
                tts.find_voice(row["voice"]), row["said"], rate=row["rate"]
            )
            sf.write(row["audio"], wave, SAMPLE_RATE)


def run_ours(model, grammar, rows: list[dict]) -> None:
    decoder = grammar_decoder(grammar, model.tokenizer, allow_unk=True)
    model.match(load_audio(rows[0]["audio"]), decoder)  # warm up
    for row in rows:
        wave = load_audio(row["audio"])
        started = time.perf_counter()
        match = model.match(wave, decoder)
        row["ours"] = {"answer": match.text, "slots": match.slots,
                       "seconds": time.perf_counter() - started,
                       "confidence": match.confidence, "scores": match.scores,
                       "choice": match.choice, "margin": match.margin,
                       "sentence": match.sentence, "heard": match.heard}  # fmt: skip
        row["duration"] = len(wave) / SAMPLE_RATE


def run_pocketsphinx(grammar, rows: list[dict]) -> None:
    peer = peers.PocketSphinx(EXTRA_WORDS)  # two words its dictionary lacks
    peer.add_grammar("grammar", grammar)
    for row in rows:
        wave = load_audio(row["audio"])
        started = time.perf_counter()
        text = peer.transcribe(wave, search="grammar")
        found = grammar.find(text) if text else None
        row["pocketsphinx"] = {"answer": text or UNK, "seconds":
                               time.perf_counter() - started,
                               "slots": dict(found.slots) if found else {}}  # fmt: skip


def decide(result: dict, per_char: float, temperature: float) -> tuple[str, float]:
    """Our answer and confidence for a clip under ``UNK_PER_CHAR = per_char`` and
    ``TEMPERATURE_PER_CHAR = temperature``, recomputed from what the decoder
    recorded (the
    rule of ``asr.decoding.match``, with the shipped UNK_PENALTY)."""
    if not result["scores"]:  # no sentence fitted at all: [unk], certain
        return UNK, 1.0
    cands = torch.tensor(result["scores"][:-1], dtype=torch.float64)
    best = int(cands.argmax())
    free = float(cands[best]) - result["margin"]
    silent = not result["heard"].strip()
    penalty = UNK_PENALTY + per_char * len(result["sentence"])
    unk = free if silent else free - penalty
    evidence = torch.cat([cands, torch.tensor([unk], dtype=torch.float64)])
    is_unk = silent or unk > float(cands[best])
    choice = len(evidence) - 1 if is_unk else best
    scale = max(1.0, temperature * len(result["sentence"]))  # as asr.decoding.match
    confidence = float(torch.softmax(evidence / scale, 0)[choice])
    return (UNK if is_unk else result["sentence"]), confidence


def confidences(rows, per_char: float, temperature: float):
    conf, right = [], []
    for row in rows:
        answer, confidence = decide(row["ours"], per_char, temperature)
        conf.append(confidence)
        right.append(answer == row["text"])
    return np.array(conf), np.array(right, dtype=float)


def choose_per_char(rows) -> float:
    """The per-character penalty with the fewest errors on ``rows`` (the middle of
    the best range, as tune_unk.py chooses)."""
    errors = {c: sum(decide(r["ours"], c, 0.0)[0] != r["text"] for r in rows)
              for c in PER_CHAR}  # fmt: skip
    best = [c for c in PER_CHAR if errors[c] == min(errors.values())]
    return best[len(best) // 2]


def fit_temperature(rows, per_char: float) -> float:
    def log_loss(t):
        conf, right = confidences(rows, per_char, t)
        conf = conf.clip(1e-9, 1 - 1e-9)
        return -np.mean(right * np.log(conf) + (1 - right) * np.log(1 - conf))

    return min(TEMPERATURES, key=log_loss)


def figures(rows, system: str) -> dict:
    inside = [r for r in rows if r["text"] != UNK]
    outside = [r for r in rows if r["text"] == UNK]
    slot_total = sum(len(r["slots"]) for r in inside)
    slot_hits = sum(r[system]["slots"].get(k) == v for r in inside
                    for k, v in r["slots"].items())  # fmt: skip
    audio = sum(r["duration"] for r in rows)
    return {
        "in_grammar": len(inside), "out_of_grammar": len(outside),
        "sentence_accuracy": np.mean([r[system]["answer"] == r["text"]
                                      for r in inside]),
        "slot_accuracy": slot_hits / max(slot_total, 1),
        "false_accepts": np.mean([r[system]["answer"] != UNK for r in outside]),
        "real_time_factor": sum(r[system]["seconds"] for r in rows) / audio,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="data/models/default.pt",
                        help="our checkpoint or ONNX export")  # fmt: skip
    parser.add_argument("--grammar", type=Path, default=GRAMMAR,
                        help="the grammar file every system gets")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("exp/commands/coffee"),
                        help="clips, results and the reliability diagram")  # fmt: skip
    parser.add_argument("--clips", type=int, default=200, help="in-grammar clips")
    parser.add_argument("--oog", type=int, default=60, help="out-of-grammar clips")
    parser.add_argument("--oog-text", type=Path, default=OOG_TEXT,
                        help="out-of-grammar sentences, one a line (.gz)")  # fmt: skip
    parser.add_argument("--engines", nargs="+", default=list(ENGINES),
                        help="TTS engines whose voices speak the clips")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the sentences, voices and rates")  # fmt: skip
    parser.add_argument("--systems", nargs="+", default=["ours", "pocketsphinx"],
                        help="ours, pocketsphinx or both")  # fmt: skip
    parser.add_argument(
        "--refit",
        action="store_true",
        help="reuse OUT/clips.json: only choose and report again",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    grammar = load_grammar(args.grammar)
    if args.refit:
        rows = json.loads((args.out / "clips.json").read_text())
    else:
        rows = plan(
            grammar, args.clips, args.oog, args.seed, args.oog_text, args.engines
        )
        synthesize(rows, args.out / "audio")
    voices = sorted({r["voice"] for r in rows})
    fit_voices = set(voices[::2])
    if "ours" in args.systems and not args.refit:
        run_ours(load_model(args.model), grammar, rows)
    if "pocketsphinx" in args.systems and not args.refit:
        for row in rows:
            row.setdefault("duration", len(load_audio(row["audio"])) / SAMPLE_RATE)
        run_pocketsphinx(grammar, rows)
    fit = [r for r in rows if r["voice"] in fit_voices]
    held = [r for r in rows if r["voice"] not in fit_voices]
    report = {"grammar": str(args.grammar), "sentences": grammar.count,
              "fit_voices": sorted(fit_voices),
              "heldout_voices": sorted(set(voices) - fit_voices)}  # fmt: skip
    (args.out / "clips.json").write_text(json.dumps(rows, indent=0, default=float))
    if "ours" in args.systems:
        per_char = choose_per_char(fit)
        t = fit_temperature(fit, per_char)
        for row in rows:
            row["chosen"] = dict(row["ours"])
            row["chosen"]["answer"] = decide(row["ours"], per_char, t)[0]
            found = grammar.find(row["chosen"]["answer"])
            row["chosen"]["slots"] = dict(found.slots) if found else {}
            said = (
                grammar.find(row["ours"]["sentence"])
                if row["ours"]["sentence"]
                else None
            )
            row["forced"] = {**row["ours"], "answer": row["ours"]["sentence"],
                             "slots": dict(said.slots) if said else {}}  # fmt: skip
        args.systems = [*args.systems, "chosen", "forced"]
        tables = {"T = 1, [unk] per char 0": calibration(*confidences(held, 0, 0)),
                  f"T = {t:g}/char, [unk] {per_char:g}/char": calibration(
                      *confidences(held, per_char, t))}  # fmt: skip
        report.update(temperature=t, per_char=per_char)
        report["reliability"] = {
            k: {"bins": v[0], "ece": v[1]} for k, v in tables.items()
        }
        for label, (table, ece) in tables.items():
            print(f"{label}: ECE {100 * ece:.1f} %")
            print("\n".join(reliability_lines(table)))
        figure = reliability_figure(tables, "Grammar answers, held-out voices")
        figure.savefig(args.out / "reliability.png", dpi=100)
    for system in args.systems:
        report[system] = figures(held, system)
        print(system, json.dumps(report[system]))
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    (args.out / "clips.json").write_text(json.dumps(rows, indent=0, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
