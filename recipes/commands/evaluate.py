r"""Grammar-constrained recognition on real speech, our models beside PocketSphinx.

    python recipes/commands/evaluate.py --data data/commands \
        --system base=data/models/default.pt \
        --system adapted=exp/commands/commands,exp/commands/digits \
        --system pocketsphinx --output exp/commands/eval.json

Every system decodes each test set of ``recipes/commands/prepare.py`` with the
grammar of that set (recipes/commands/digits.jsgf, commands.jsgf,
speech_commands.jsgf or robot.ini; VCTK sentences with each, as out-of-grammar
speech). Ours answer a sentence or "[unk]"
(``asr.decoding.match``, the shipped [unk] penalty); PocketSphinx 5 (its en-us model,
the same JSGF file, "snowboy" added to its dictionary; robot.ini as the FSG of
``asr.decoding.grammar.to_fsg``) answers the sentence it finds or nothing. Figures
per set:

  sentence accuracy   answer == reference sentence ([unk] counts as wrong)
  forced accuracy     best sentence == reference, [unk] not allowed (ours only)
  slot accuracy       slots right / slots in the references (tags of the grammar)
  false accepts       share of out-of-grammar utterances given a sentence
  RTF                 seconds of decoding per second of audio (--threads torch threads)
  ECE                 expected calibration error of our confidences (10 bins; an
                      answer is right when it is the reference, [unk] out of
                      grammar), per set and over all sets (--diagram: its picture)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.core.metrics import calibration, reliability_lines
from asr.core.options import run_script
from asr.data.manifest import read_manifest
from asr.decoding.grammar import UNK, load_grammar
from asr.decoding.match import UNK_PENALTY, grammar_decoder
from asr.inference import peers
from asr.inference.pictures import reliability_figure
from asr.inference.transcribe import load_model

HERE = Path(__file__).resolve().parent
GRAMMARS = {
    "digits": HERE / "digits.jsgf",
    "commands": HERE / "commands.jsgf",
    "speech_commands": HERE / "speech_commands.jsgf",
    "robot": HERE / "robot.ini",
}
SETS = (  # (manifest, grammar, in grammar?)
    ("fsdd_digits", "digits", True),
    ("digit_strings", "digits", True),
    ("wakewords", "commands", True),
    ("speech_commands", "speech_commands", True),
    ("robot", "robot", True),
    ("robot_oog", "robot", False),
    ("vctk_oog", "commands", False),
    ("vctk_oog", "digits", False),
    ("vctk_oog", "speech_commands", False),
    ("vctk_oog", "robot", False),
)
EXTRA_WORDS = {"snowboy": "S N OW B OY"}  # not in PocketSphinx's CMU dictionary


class Ours:
    """An asr model (or one per grammar: commands model, digits model) deciding
    with the grammar, [unk] allowed, with the shipped penalty or the given ones."""

    def __init__(self, name: str, paths: list[str], penalties: list[float] = ()):
        self.name = name
        which = {g: -1 if g == "digits" else 0 for g in GRAMMARS}  # digits: last
        models = [load_model(p) for p in paths]
        self.models = {g: models[which[g]] for g in GRAMMARS}
        penalties = list(penalties) or [UNK_PENALTY]
        penalty = {g: penalties[which[g]] for g in GRAMMARS}
        self.decoders = {
            g: grammar_decoder(
                load_grammar(p), self.models[g].tokenizer, True, penalty[g]
            )
            for g, p in GRAMMARS.items()
        }

    def decide(self, wave: np.ndarray, grammar: str) -> tuple[str, str, float]:
        """(answer or "[unk]", best sentence, confidence)."""
        match = self.models[grammar].transcribe(wave, grammar=self.decoders[grammar])
        return match.text, match.sentence, match.confidence


class PocketSphinx:
    """PocketSphinx 5 (en-us) searching the same grammars (``asr.inference.peers``)."""

    name = "pocketsphinx"

    def __init__(self):
        self.peer = peers.PocketSphinx(EXTRA_WORDS)
        for name, path in GRAMMARS.items():
            self.peer.add_grammar(name, path)

    def decide(self, wave: np.ndarray, grammar: str) -> tuple[str, str, None]:
        text = self.peer.transcribe(wave, search=grammar)
        return (text or UNK), text, None


def slot_hits(grammar, answer: str, reference: dict) -> int:
    found = grammar.find(answer) if answer != UNK else None
    slots = dict(found.slots) if found else {}
    return sum(slots.get(k) == v for k, v in reference.items())


def score(system, entries, waves, grammar_name: str, in_grammar: bool) -> dict:
    grammar = load_grammar(GRAMMARS[grammar_name])
    right = forced = slots = slot_total = accepted = seconds = 0
    results = []
    for entry, wave in zip(
        tqdm(entries, desc=system.name, leave=False), waves, strict=True
    ):
        started = time.perf_counter()
        answer, best, confidence = system.decide(wave, grammar_name)
        seconds += time.perf_counter() - started
        accepted += answer != UNK
        expected = entry["text"] if in_grammar else UNK
        results.append(
            {"audio": entry["audio"], "answer": answer, "best": best,
             "confidence": confidence, "right": answer == expected}
        )  # fmt: skip
        if in_grammar:
            right += answer == entry["text"]
            forced += best == entry["text"]
            slots += slot_hits(grammar, answer, entry["slots"])
            slot_total += len(entry["slots"])
    n = len(entries)
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    report = {"utterances": n, "accepted": accepted / n, "results": results,
              "real_time_factor": seconds / audio}  # fmt: skip
    if in_grammar:
        report.update(
            sentence_accuracy=right / n,
            forced_accuracy=forced / n,
            slot_accuracy=slots / max(slot_total, 1),
        )
    else:
        report["false_accepts"] = accepted / n
    if results[0]["confidence"] is not None:
        report["ece"] = calibration(*answers(results))[1]
    return report


def answers(results: list[dict]) -> tuple[list[float], list[bool]]:
    """(confidences, right?) of a system's answers."""
    return [r["confidence"] for r in results], [r["right"] for r in results]


def row(name: str, grammar: str, system: str, r: dict) -> str:
    ece = f"  ECE {100 * r['ece']:4.1f} %" if "ece" in r else ""
    ece += f"  RTF {r['real_time_factor']:.3f}"
    if "false_accepts" in r:
        return (
            f"{name:<15} {grammar:<15} {system:<13} false accepts "
            f"{100 * r['false_accepts']:5.1f} %  ({r['utterances']} utt.){ece}"
        )
    accuracy = 100 * r["sentence_accuracy"]
    return (
        f"{name:<15} {grammar:<15} {system:<13} sentence {accuracy:5.1f} %"
        f"  forced {100 * r['forced_accuracy']:5.1f} %  slots "
        f"{100 * r['slot_accuracy']:5.1f} %  ({r['utterances']} utt.){ece}"
    )


def pooled_calibration(reports: list[dict], path: Path | None) -> None:
    """Every set's answers together, per system: the reliability table and ECE."""
    tables = {}
    for system in dict.fromkeys(r["system"] for r in reports if "ece" in r):
        results = [x for r in reports if r["system"] == system for x in r["results"]]
        tables[system] = table, ece = calibration(*answers(results))
        print(f"{system}: all sets, {len(results)} answers, ECE {100 * ece:.1f} %")
        print("\n".join(reliability_lines(table)))
    if path and tables:
        reliability_figure(tables, "Grammar answers, real speech").savefig(
            path, dpi=100
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data/commands"))
    parser.add_argument(
        "--system",
        action="append",
        required=True,
        help="NAME=MODEL[,DIGITS_MODEL][@PENALTY[,DIGITS_PENALTY]] or pocketsphinx "
        "([unk] penalties in nats; default asr.decoding.match.UNK_PENALTY)",
    )
    parser.add_argument("--sets", nargs="+", default=None, help="manifest names")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--output", type=Path, default=None, help="JSON report")
    parser.add_argument("--diagram", type=Path, default=None,
                        help="reliability diagram of ours, all sets (PNG)")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    systems = []
    for spec in args.system:
        name, _, rest = spec.partition("=")
        paths, _, penalties = rest.partition("@")
        systems.append(
            PocketSphinx()
            if name == "pocketsphinx"
            else Ours(
                name, paths.split(","), [float(p) for p in penalties.split(",") if p]
            )
        )
    reports = []
    for name, grammar, in_grammar in SETS:
        if args.sets and name not in args.sets:
            continue
        entries = read_manifest(args.data / f"{name}.jsonl")
        waves = [load_audio(e["audio"]) for e in entries]
        for system in systems:
            r = score(system, entries, waves, grammar, in_grammar)
            reports.append(
                {"set": name, "grammar": grammar, "system": system.name, **r}
            )
            print(row(name, grammar, system.name, r), flush=True)
    pooled_calibration(reports, args.diagram)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
