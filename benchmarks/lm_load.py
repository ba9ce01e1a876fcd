"""What the LM costs a process: building the model's beam decoder (the first LM
load), changing its weights, decoders for new hotword texts, and the memory held
with the demo's decoder cache full (one plain decoder and eight hotword texts).

    python benchmarks/lm_load.py                      # the shipped English model
    python benchmarks/lm_load.py --model data/models/digits.pt

It uses only ``ASRModel.beam_decoder`` and ``BeamSearchDecoder.configure``, so it
runs unchanged on older checkouts (compare with ``PYTHONPATH=<checkout>``).
"""

from __future__ import annotations

import argparse
import resource
import time

import asr
from asr.decoding.beam import DecodeConfig
from asr.inference.transcribe import DEFAULT_MODEL

HOTWORDS = "philip steels danger trail author london paris window".split()


def rss_mb() -> float:
    """Resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(label: str, work):
    wall, cpu, peak = time.perf_counter(), time.process_time(), peak_mb()
    result = work()
    print(f"| {label} | {time.perf_counter() - wall:.2f} | "
          f"{time.process_time() - cpu:.2f} | +{peak_mb() - peak:.0f} |")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint")
    args = parser.parse_args()
    model = asr.load_model(args.model)
    base = rss_mb()
    print(f"model {args.model}; RSS after loading it {base:.0f} MB\n")
    print("| step | wall s | CPU s | peak RSS MB |\n|---|---|---|---|")
    decoder = step("first beam decoder (reads the LM)", model.beam_decoder)
    settings = DecodeConfig(lm_weight=0.5, word_score=-1.0)
    step("configure: other weights", lambda: decoder.configure(settings))
    kept = [decoder]  # as the demo keeps them: one plain, eight hotword texts
    for word in HOTWORDS:
        hotwords = ((word, 3.0),)
        label = f"decoder with hotword '{word}'"
        kept.append(step(label, lambda h=hotwords: model.beam_decoder(h)))
    step("another plain decoder", model.beam_decoder)
    held = rss_mb() - base
    print(f"\nRSS with {len(kept)} decoders kept: +{held:.0f} MB over the model")


if __name__ == "__main__":
    main()
