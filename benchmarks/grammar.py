"""Grammar compile time and memory, and decode speed, for grammars of any size.

    python benchmarks/grammar.py                 # the table in docs/grammars.md
    python benchmarks/grammar.py --smoke         # quick run (tests)

Compiles three grammars in a fresh process each (so that peak RSS is the grammar's
own): ten digits (10 sentences), a 10^9-sentence code grammar (nine digit slots),
and recipes/commands/coffee/order.ini (1.8 x 10^8 sentences); reports compile wall
time (grammar text to word graph, and the graph spelled for the model's
characters), the memory the compiled grammar holds, and peak RSS above the
process's baseline. Then decodes synthetic coffee orders (espeak-ng en-US, one
thread) with ``data/models/default.pt``: wall time per clip of posteriors and
search together, as a real-time factor.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIGIT = "d = (zero | one | two | three | four | five | six | seven | eight | nine)\n"
GRAMMARS = {
    "ten digits": DIGIT + "<d>\n",
    "nine-digit codes (10^9)": DIGIT + "[Code]\n(" + "<d> " * 9 + "){code}\n",
    "coffee orders (recipes/commands/coffee)": "@recipes/commands/coffee/order.ini",
}
ORDERS = [
    "can i get a large latte with oat milk please",
    "i would like a small decaf americano with no sugar",
    "two medium cappuccino with soy milk thanks",
    "cancel my order",
]


def compile_one(source: str) -> dict:
    """Runs in a child process: compile ``source`` and measure."""
    import asr
    from asr.core.text import CharTokenizer
    from asr.decoding.match import GrammarDecoder

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if source.startswith("@"):
        grammar = asr.load_grammar(ROOT / source[1:])
    else:
        grammar = asr.parse_grammar(source)
    compiled = time.perf_counter()
    decoder = GrammarDecoder(grammar, CharTokenizer())
    spelled = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "sentences": grammar.count, "arcs": len(grammar.graph.src),
        "compile_s": compiled - started, "spell_s": spelled - compiled,
        "held_mb": decoder.nbytes() / 2**20, "peak_mb": (peak - before) / 1024,
    }  # fmt: skip


def decode_speed(clips: int) -> dict:
    import torch

    import asr
    from asr.synthesis import tts

    torch.set_num_threads(1)
    model = asr.load_model(ROOT / "data" / "models" / "default.pt")
    decoder = model.grammar_decoder(ROOT / "recipes/commands/coffee/order.ini")
    voice = tts.find_voice("espeak-ng:en-US")
    waves = [tts.speak(voice, ORDERS[i % len(ORDERS)]) for i in range(clips)]
    model.match(waves[0], decoder)  # warm up
    audio = sum(len(w) for w in waves) / asr.SAMPLE_RATE
    started = time.perf_counter()
    for wave in waves:
        model.match(wave, decoder)
    wall = time.perf_counter() - started
    return {
        "clips": clips,
        "audio_s": audio,
        "wall_s": wall,
        "x_real_time": audio / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one decode clip")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(compile_one(args.child)))
        return 0
    print("| grammar | sentences | arcs | compile | spell for the model | "
          "held | peak RSS |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for name, source in GRAMMARS.items():
        child = [sys.executable, __file__, "--child", source]
        out = subprocess.run(child, cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        r = json.loads(out)
        print(f"| {name} | {r['sentences']:.3g} | {r['arcs']} | "
              f"{1000 * r['compile_s']:.1f} ms | {1000 * r['spell_s']:.1f} ms | "
              f"{r['held_mb']:.2f} MB | +{r['peak_mb']:.1f} MB |")  # fmt: skip
    r = decode_speed(1 if args.smoke else 20)
    print(f"\ndecoding {r['clips']} coffee orders ({r['audio_s']:.1f} s of audio) "
          f"in {r['wall_s']:.2f} s on one thread: {r['x_real_time']:.1f}x real "
          "time")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
