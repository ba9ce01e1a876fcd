"""Choose the [unk] penalty (``asr.match.UNK_PENALTY``) on training and dev data.

    python recipes/commands/tune_unk.py --model data/models/default.pt

For every utterance of tune_in.jsonl (wakeword training clips and FSDD train takes,
each against its own grammar) and tune_oog.jsonl (LibriSpeech dev and Kathleen
sentences, against both grammars) it records the margin log P(best sentence) -
log P(greedy transcript); a penalty p rejects an utterance when margin < -p. The
penalty chosen minimises false-reject rate + false-accept rate. No test set is read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from asr.audio import load_audio
from asr.data import read_manifest
from asr.grammar import load_grammar
from asr.transcribe import load_model

HERE = Path(__file__).resolve().parent
GRAMMARS = {"digits": HERE / "digits.jsgf", "commands": HERE / "commands.jsgf"}
CANDIDATES = [0.5 * k for k in range(1, 121)]  # 0.5 ... 60 nats


def margins(model, entries, grammars: list[str] | None = None) -> list[float]:
    """Margins of each entry against ``grammars``, else against its own grammar."""
    decoders = {
        g: model.grammar_decoder(load_grammar(p), False) for g, p in GRAMMARS.items()
    }
    out = []
    for entry in tqdm(entries, leave=False, mininterval=5):
        wave = load_audio(entry["audio"])
        for g in grammars or [entry["grammar"]]:
            out.append(model.transcribe(wave, grammar=decoders[g]).margin)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/models/default.pt")
    parser.add_argument("--data", type=Path, default=Path("data/commands"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model)
    inside = margins(model, read_manifest(args.data / "tune_in.jsonl"))
    outside = margins(
        model, read_manifest(args.data / "tune_oog.jsonl"), list(GRAMMARS)
    )
    table = []
    for p in CANDIDATES:
        false_reject = sum(m < -p for m in inside) / len(inside)
        false_accept = sum(m >= -p for m in outside) / len(outside)
        table.append((false_reject + false_accept, p, false_reject, false_accept))
    best = min(table)
    for _, p, fr, fa in table[9::10] + [best]:
        print(
            f"penalty {p:5.1f}  false rejects {100 * fr:5.1f} %  "
            f"false accepts {100 * fa:5.1f} %"
        )
    print(
        f"chosen: {best[1]} nats ({len(inside)} in-grammar, "
        f"{len(outside)} out-of-grammar trials)"
    )
    if args.output:
        args.output.write_text(
            json.dumps({"inside": inside, "outside": outside, "chosen": best[1]})
        )


if __name__ == "__main__":
    main()
