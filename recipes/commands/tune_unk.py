"""Choose the [unk] settings (``asr.decoding.match.UNK_PENALTY`` and ``MAX_DISTANCE``)
on training and dev data.

    python recipes/commands/tune_unk.py --model data/models/default.pt

For every utterance of tune_in.jsonl (wakeword training clips and FSDD train takes,
each against its own grammar) and tune_oog.jsonl (LibriSpeech dev and Kathleen
sentences, against both grammars) it records the margin log P(best sentence) -
log P(greedy transcript) and the distance (character edits from the greedy
transcript to the sentence, per sentence character). Settings (p, d) reject an
utterance when margin < -p or distance > d; the pair chosen minimises false-reject
rate + false-accept rate. Where several pairs tie (a model that separates the two
sets leaves a range of penalties with no error), it takes no distance limit if that
ties, then the middle of the tied range, the setting farthest from both kinds of
error, rather than its edge. No test set is read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from asr.audio.io import load_audio
from asr.core.options import run_script
from asr.data.manifest import read_manifest
from asr.decoding.grammar import load_grammar
from asr.inference.transcribe import load_model

HERE = Path(__file__).resolve().parent
GRAMMARS = {"digits": HERE / "digits.jsgf", "commands": HERE / "commands.jsgf"}
PENALTIES = [2.5 * k for k in range(1, 25)]  # 2.5 ... 60 nats
DISTANCES = [0.1 * k for k in range(2, 21)] + [float("inf")]  # 0.2 ... 2.0, off


def measure(model, entries, grammars: list[str] | None = None) -> list[tuple]:
    """(margin, distance) of each entry against ``grammars``, else its own grammar."""
    decoders = {g: model.grammar_decoder(load_grammar(p), False)
                for g, p in GRAMMARS.items()}  # fmt: skip
    out = []
    for entry in tqdm(entries, leave=False, mininterval=5):
        wave = load_audio(entry["audio"])
        for g in grammars or [entry["grammar"]]:
            match = model.transcribe(wave, grammar=decoders[g])
            out.append((match.margin, match.distance))
    return out


def rejected(trial: tuple, penalty: float, distance: float) -> bool:
    return trial[0] < -penalty or trial[1] > distance


def trade_offs(inside: list[tuple], outside: list[tuple]) -> list[tuple]:
    """(false rejects + false accepts, penalty, distance, false rejects, false
    accepts) for every setting of the grid, from (margin, distance) trials."""
    table = []
    for p, d in itertools.product(PENALTIES, DISTANCES):
        fr = sum(rejected(t, p, d) for t in inside) / len(inside)
        fa = sum(not rejected(t, p, d) for t in outside) / len(outside)
        table.append((fr + fa, p, d, fr, fa))
    return table


def choose(table: list[tuple]) -> tuple:
    """The (error, penalty, distance, ...) row with the least error; among ties, no
    distance limit when one ties, then the median tied distance, then the median
    penalty tied at that distance."""
    least = min(row[0] for row in table)
    tied = [row for row in table if row[0] <= least + 1e-12]
    distances = sorted({row[2] for row in tied})
    d = float("inf") if float("inf") in distances else distances[len(distances) // 2]
    at_d = sorted((row for row in tied if row[2] == d), key=lambda row: row[1])
    return at_d[(len(at_d) - 1) // 2]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/models/default.pt")
    parser.add_argument("--data", type=Path, default=Path("data/commands"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model)
    inside = measure(model, read_manifest(args.data / "tune_in.jsonl"))
    outside = measure(
        model, read_manifest(args.data / "tune_oog.jsonl"), list(GRAMMARS)
    )
    table = trade_offs(inside, outside)
    best = choose(table)
    for _, p, d, fr, fa in [t for t in table if t[2] in (best[2], float("inf"))][::4]:
        print(f"penalty {p:5.1f}  distance {d:4.1f}  false rejects {100 * fr:5.1f} %  "
              f"false accepts {100 * fa:5.1f} %")  # fmt: skip
    _, p, d, fr, fa = best
    print(f"chosen: penalty {p} nats, distance {d:.1f}: "
          f"false rejects {100 * fr:.1f} %, "
          f"false accepts {100 * fa:.1f} % ({len(inside)} in-grammar, "
          f"{len(outside)} out-of-grammar trials)")  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps({"inside": inside, "outside": outside}))


if __name__ == "__main__":
    sys.exit(run_script(main))
