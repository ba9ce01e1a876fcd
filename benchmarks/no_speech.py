r"""How well ``speech_confidence`` tells speech from noise: the confidence of every
VAD segment of a dev manifest that gets text, beside that of pink and white noise,
a 440 Hz tone and a sweep at three levels, and what each threshold would drop.

    python benchmarks/no_speech.py --model data/models/default.pt \
        --manifest ../shared/data/speech/librispeech_other_dev/manifest.jsonl

Run it on a dev set only: it is how ``asr transcribe --min-confidence`` is chosen.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import asr
from asr.audio.vad import split_segments
from asr.data.manifest import read_manifest
from asr.decoding.alignment import speech_confidence

THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)
LEVELS = (0.03, 0.1, 0.3)  # peak amplitude of each noise
NOISE_S = 60  # seconds of each noise


def scores(model, wave: np.ndarray) -> list[tuple[float, int]]:
    """(confidence, characters of greedy text) per VAD segment that gets text."""
    rows = []
    for _, _, samples in split_segments(wave):
        log_probs, out_lens = model.posteriors([samples])
        text = model.greedy(log_probs, out_lens)[0]
        if text:
            rows.append((speech_confidence(log_probs, out_lens)[0], len(text)))
    return rows


def noises(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, t = (
        NOISE_S * asr.SAMPLE_RATE,
        np.arange(NOISE_S * asr.SAMPLE_RATE) / asr.SAMPLE_RATE,
    )
    spectrum = np.fft.rfft(rng.standard_normal(n))
    pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), n)
    shapes = {
        "pink": pink,
        "white": rng.standard_normal(n),
        "tone 440 Hz": np.sin(2 * np.pi * 440 * t),
        "sweep": np.sin(2 * np.pi * (100 + 20 * t) * t),
    }
    return {k: (v / np.abs(v).max()).astype(np.float32) for k, v in shapes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--manifest", type=Path, required=True, help="a dev manifest")
    args = parser.parse_args()
    model = asr.load_model(args.model)
    speech = [
        s
        for e in read_manifest(args.manifest)
        for s in scores(model, asr.load_audio(e["audio"]))
    ]
    noise = [
        s
        for level in LEVELS
        for x in noises().values()
        for s in scores(model, level * x)
    ]
    sp, nz = np.array([c for c, _ in speech]), np.array([c for c, _ in noise])
    print(
        f"speech: {len(sp)} segments, confidence min {sp.min():.3f}, "
        f"median {np.median(sp):.3f}"
    )
    print(
        f"noise: {len(nz)} segments, {sum(n for _, n in noise)} characters, "
        f"confidence max {nz.max():.3f}, median {np.median(nz):.3f}"
    )
    print("threshold  speech segments dropped  noise segments kept")
    for threshold in THRESHOLDS:
        print(
            f"{threshold:>9}  {int((sp < threshold).sum()):>23}  "
            f"{int((nz >= threshold).sum()):>19}"
        )


if __name__ == "__main__":
    main()
