"""The text-to-speech ``asr adapt`` speaks with: ``asr.tts`` (the pinned voice
inventory, with speaker and channel variation) when this install has it, else
espeak-ng and flite called directly, the same way recipes/english/synthesize.py
calls them. Voices are named by id (``engine:name``)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import SAMPLE_RATE, prepare_audio

TTS_TIMEOUT_S = 60  # a TTS call that takes longer is treated as hung
ESPEAK_VOICES = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
ESPEAK_VARIANTS = ("", "f1", "f2", "f3", "f4", "m1", "m3", "m5", "klatt", "klatt3")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
HAVE_TTS = importlib.util.find_spec("asr.tts") is not None


def voice_ids() -> list[str]:
    """Every installed voice, sorted: ``asr.tts`` voices (espeak-ng ones once per
    variant), else espeak-ng voice+variant pairs and flite voices."""
    if HAVE_TTS:
        from . import tts

        return sorted(v.id for v in tts.available_voices())
    ids = []
    if shutil.which("espeak-ng"):
        ids += [
            f"espeak-ng:{v}+{x}" if x else f"espeak-ng:{v}"
            for v in ESPEAK_VOICES
            for x in ESPEAK_VARIANTS
        ]
    if shutil.which("flite"):
        ids += [f"flite:{v}" for v in FLITE_VOICES]
    return sorted(ids)


def speak(
    voice_id: str, text: str, rate: float = 1.0, pitch: float = 1.0
) -> np.ndarray:
    """``text`` said by ``voice_id`` at ``rate`` (1.2: 20 % faster) and ``pitch``
    (factor; espeak-ng only in the fallback): (N,) float32 at 16 kHz."""
    if HAVE_TTS:
        from . import tts

        return tts.speak(tts.find_voice(voice_id), text, rate=rate, pitch=pitch)
    engine, name = voice_id.split(":", 1)
    with tempfile.TemporaryDirectory(prefix="speak") as tmp:
        wav = Path(tmp) / "out.wav"
        if engine == "espeak-ng":
            cmd = [
                "espeak-ng",
                "-v",
                name,
                "-s",
                str(round(175 * rate)),
                "-p",
                str(round(50 * pitch)),
                "-w",
                str(wav),
                "--",
                text,
            ]
        else:
            cmd = [
                "flite",
                "-voice",
                name,
                "--setf",
                f"duration_stretch={1 / rate:.3f}",
                "-t",
                text,
                "-o",
                str(wav),
            ]
        subprocess.run(cmd, capture_output=True, check=True, timeout=TTS_TIMEOUT_S)
        samples, source_rate = sf.read(str(wav), dtype="float32")
    return prepare_audio(samples, source_rate, SAMPLE_RATE, name=voice_id)


def vary(wave: np.ndarray, seed: int) -> np.ndarray:
    """Another speaker and channel for ``wave`` (``asr.tts.vary``); the fallback
    only changes the loudness and adds noise at 15-35 dB SNR."""
    if HAVE_TTS:
        from . import tts

        return tts.vary(wave, seed)
    rng = np.random.default_rng(seed)
    gain = 10 ** (rng.uniform(-12, 0) / 20)
    power = float(np.mean(wave**2)) + 1e-12
    snr = 10 ** (rng.uniform(15, 35) / 10)
    noise = rng.standard_normal(len(wave)).astype(np.float32) * np.sqrt(power / snr)
    return np.clip((wave + noise) * gain, -1, 1).astype(np.float32)
