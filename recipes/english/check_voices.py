"""How fast each installed voice speaks and how well PocketSphinx understands it.

    python recipes/english/check_voices.py --sentences 5 --output exp/voices.json

Speaks the same ``--sentences`` corpus sentences (drawn with ``--seed`` among those
``synthesize.py`` would use) with every installed voice of ``asr.synthesis.tts.VOICES``,
plain: rate 1, no ``vary``. Per voice it prints the seconds of audio per second of
synthesis (one process, as measured on this machine at that moment) and PocketSphinx's
WER on it: a rough intelligibility check (PocketSphinx is a weak recogniser, and
poor on formant voices: a high WER says "hard to understand", not "broken").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from evaluate import PocketSphinx  # recipes/english/evaluate.py
from synthesize import load_sentences, select_voices  # recipes/english/synthesize.py

from asr.audio.io import SAMPLE_RATE
from asr.core.metrics import wer
from asr.core.options import run_script
from asr.core.text import normalize_text
from asr.synthesis import tts


def check(voice: tts.Voice, sentences: list[str], recogniser) -> dict:
    """Speed and PocketSphinx WER of ``voice`` on ``sentences``."""
    audio = seconds = 0.0
    hyps = []
    for sentence in sentences:
        start = time.perf_counter()
        wave = tts.speak(voice, sentence)
        seconds += time.perf_counter() - start
        audio += len(wave) / SAMPLE_RATE
        hyps.append(normalize_text(recogniser.transcribe(wave)))
    refs = [normalize_text(s) for s in sentences]
    return {"voice": voice.id, "engine": voice.engine, "audio_s": round(audio, 2),
            "x_real_time": round(audio / seconds, 1),
            "pocketsphinx_wer": round(wer(refs, hyps), 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text-dir", type=Path, default=Path("../shared/data/text"))
    parser.add_argument("--sentences", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", help="only these engines")
    parser.add_argument("--output", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)
    pool = [s for _, s in load_sentences(args.text_dir, [])]
    sentences = random.Random(args.seed).sample(pool, args.sentences)
    voices = select_voices(args.engines, skip=[])
    if not voices:
        print("error: no voice installed (install_voices.sh)", file=sys.stderr)
        return 2
    recogniser = PocketSphinx()
    for voice in voices:  # load models and start caches outside the timing
        tts.speak(voice, "Hello.")
    rows = []
    print(f"{'voice':34} {'audio s':>8} {'x real time':>11} {'PS WER':>7}")
    for voice in voices:
        row = check(voice, sentences, recogniser)
        rows.append(row)
        print(f"{row['voice']:34} {row['audio_s']:8.1f} {row['x_real_time']:11.1f} "
              f"{100 * row['pocketsphinx_wer']:6.1f}%", flush=True)  # fmt: skip
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
