"""Speakers, edges and channels for synthetic speech: one TTS voice becomes many
speakers in many rooms and microphones.

A ``Variation`` is drawn from a seed (``draw_variation``) and applied to a 16 kHz
wave (``apply_variation``), in this order:

    speaker   vocal-tract length (resampling, which moves formants and pitch together,
              then WSOLA back to the length it had) and tempo (WSOLA), both by sox
    edges     the engine's silence trimmed, then room tone before and after the speech,
              a breath before it, a lip click
    channel   room reverberation (a synthetic impulse response), microphone colouring
              (peaking EQ bands, high- and low-pass), background noise (white, pink,
              brown or mains hum; always, if faint) at an SNR measured on the speech
              and no fainter than a recording's noise floor, a telephone band
              (8 kHz, 300-3400 Hz, 8-bit mu-law), and the output level

Every random draw comes from the seed, so the same seed gives the same audio. No RIR
or noise recordings are at hand, hence the synthetic room and noise.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from ..audio.io import SAMPLE_RATE
from ..training.augment import colored_noise, telephone

SOX_RAW = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1"]
TRIM_DB = 40.0  # engine silence: frames quieter than the peak by this much
TRIM_FRAME = 160  # 10 ms frames for trimming
TRIM_KEEP = 480  # keep 30 ms beyond the first and last loud frame


@dataclass(frozen=True)
class Variation:
    """One draw of speaker, edges and channel; the defaults change nothing."""

    warp: float = 1.0  # vocal-tract length factor: formants and pitch x warp
    tempo: float = 1.0  # speaking rate factor, pitch kept
    lead_s: float = 0.0  # room tone before the speech, seconds (0: not trimmed)
    trail_s: float = 0.0  # room tone after the speech, seconds
    breath_db: float = 0.0  # a breath before the speech, dB re speech RMS; 0: none
    click: bool = False  # a lip click before the speech (and the breath)
    rt60: float = 0.0  # room reverberation time, seconds; 0: dry
    direct: float = 1.0  # weight of the direct path against the reverberant tail
    eq: tuple[tuple[float, float, float], ...] = ()  # peaking bands (Hz, dB, Q)
    highpass_hz: float = 0.0  # microphone low cut; 0: none
    lowpass_hz: float = 0.0  # microphone high cut; 0: none
    noise: str = ""  # "white", "pink", "brown" or "hum"; "": none
    snr_db: float = 0.0  # speech to noise, dB
    floor_db: float = 0.0  # the noise is at least this loud in the output, dBFS RMS
    #                        (a recording's noise floor); 0: no floor
    telephone: bool = False  # 8 kHz, 300-3400 Hz, 8-bit mu-law
    level_db: float = 0.0  # peak level of the result, dBFS; 0: as it comes (<= 0.99)

    def describe(self) -> str:
        """Short text for manifests, e.g. ``warp=0.93 tempo=1.05 rt60=0.41 tel``."""
        keys = ("warp", "tempo", "lead_s", "trail_s", "breath_db", "rt60",
                "highpass_hz", "lowpass_hz", "snr_db", "floor_db",
                "level_db")  # fmt: skip
        parts = [f"{k}={getattr(self, k):g}" for k in keys
                 if getattr(self, k) != getattr(NONE, k)]  # fmt: skip
        parts += [f"eq={len(self.eq)}"] * bool(self.eq)
        parts += [f"noise={self.noise}"] * bool(self.noise)
        parts += ["click"] * self.click + ["telephone"] * self.telephone
        return " ".join(parts)


NONE = Variation()


def draw_variation(seed: int, strength: float = 1.0) -> Variation:
    """A random ``Variation``: ``strength`` 1 is the full spread, 0 none at all;
    values between scale every probability and range."""
    s = float(strength)
    if s <= 0:
        return NONE
    rng = np.random.default_rng([seed, 0])

    def chance(p: float) -> bool:
        return bool(rng.random() < p * s)

    def spread(width: float) -> float:  # a factor around 1, log-uniform
        return round(math.exp(rng.uniform(-width, width) * s), 3)

    warp = spread(0.16) if chance(0.85) else 1.0  # 0.85-1.17
    tempo = spread(0.15) if chance(0.7) else 1.0
    lead, trail = (round(0.05 + s * rng.uniform(0, 1.0), 3) for _ in range(2))
    breath = round(rng.uniform(-32, -18), 1) if chance(0.35) else 0.0
    click = chance(0.12)
    rt60 = round(rng.uniform(0.15, 0.9), 3) if chance(0.5) else 0.0
    direct = round(rng.uniform(0.3, 1.0), 3) if rt60 else 1.0
    eq: tuple = ()
    if chance(0.7):
        eq = tuple(
            (round(float(np.exp(rng.uniform(np.log(150), np.log(6000)))), 1),
             round(rng.uniform(-9, 9) * s, 1), round(rng.uniform(0.5, 2.0), 2))
            for _ in range(int(rng.integers(1, 4)))
        )  # fmt: skip
    highpass = round(rng.uniform(60, 250), 1) if chance(0.4) else 0.0
    lowpass = round(rng.uniform(3500, 7500), 1) if chance(0.3) else 0.0
    # a noise floor always: real recordings never hold digital silence
    noise = str(
        rng.choice(["white", "pink", "brown", "hum"], p=[0.3, 0.35, 0.27, 0.08])
    )
    snr = round(60 - s * rng.uniform(0, 52), 1)  # 8-60 dB
    floor = round(rng.uniform(-78, -60), 1)  # never digital silence once quantised
    phone = chance(0.1)
    level = round(rng.uniform(-26, -1), 1)
    return Variation(warp, tempo, lead, trail, breath, click, rt60, direct, eq,
                     highpass, lowpass, noise, snr, floor, phone, level)  # fmt: skip


def apply_variation(wave: np.ndarray, v: Variation, seed: int) -> np.ndarray:
    """``wave`` (N,) float32 at 16 kHz as speaker and channel ``v`` would record it,
    drawing noise from ``seed``: (M,) float32, peak below 1."""
    gen = torch.Generator().manual_seed(seed)
    x = np.ascontiguousarray(wave, dtype=np.float32)
    if v.warp != 1.0 or v.tempo != 1.0:
        x = warp_voice(x, v.warp, v.tempo)
    y = torch.from_numpy(x)
    speech_power = float(y.pow(2).mean()) or 1e-10
    if v.lead_s or v.trail_s:
        y = _edges(trim(y), v, speech_power, gen)
    if v.rt60:
        y = reverberate(y, v.rt60, v.direct, gen)
    y = _colour(y, v)
    if v.noise:
        y = y + _noise(len(y), v.noise, gen) * _noise_rms(y, speech_power, v)
    if v.telephone:  # a phone line: 4th-order 300-3400 Hz band, 8-bit mu-law
        y = telephone(y, sections=2, high_cut=3400.0, mu_law=True)
    peak = float(y.abs().max())
    target = 10 ** (v.level_db / 20) if v.level_db else min(peak, 0.99)
    return (y * (target / max(peak, 1e-8))).numpy().astype(np.float32)


def _noise_rms(y: torch.Tensor, speech_power: float, v: Variation) -> float:
    """RMS of the noise: ``snr_db`` below the speech, but at least ``floor_db``
    once the output is scaled to ``level_db``."""
    rms = math.sqrt(speech_power / 10 ** (v.snr_db / 10))
    if v.floor_db and v.level_db:
        gain = 10 ** (v.level_db / 20) / max(float(y.abs().max()), 1e-8)
        rms = max(rms, 10 ** (v.floor_db / 20) / gain)
    return rms


def warp_voice(wave: np.ndarray, warp: float, tempo: float = 1.0) -> np.ndarray:
    """Formants and pitch x ``warp`` (a shorter or longer vocal tract), speaking rate
    x ``tempo``: sox ``speed`` (resampling) then ``tempo`` (WSOLA) for the length."""
    return _sox(wave, ["speed", f"{warp:.4f}", "rate", "-h", str(SAMPLE_RATE),
                       "tempo", "-s", f"{tempo / warp:.4f}"])  # fmt: skip


def change_tempo(wave: np.ndarray, tempo: float) -> np.ndarray:
    """Speaking rate x ``tempo`` with pitch and formants kept (sox WSOLA)."""
    return _sox(wave, ["tempo", "-s", f"{tempo:.4f}"])


def _sox(wave: np.ndarray, effects: list[str]) -> np.ndarray:
    rate = ["-r", str(SAMPLE_RATE)]
    out = subprocess.run(
        ["sox", "-D", "-V1", *SOX_RAW, *rate, "-", *SOX_RAW, *rate, "-", *effects],
        input=np.ascontiguousarray(wave, dtype="<f4").tobytes(),
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return np.frombuffer(out.stdout, dtype="<f4").copy()


def trim(wave: torch.Tensor) -> torch.Tensor:
    """Cut the silence an engine leaves before and after the speech (frames more
    than ``TRIM_DB`` below the peak), keeping 30 ms around it."""
    n = len(wave) // TRIM_FRAME
    if n < 2:
        return wave
    energy = wave[: n * TRIM_FRAME].reshape(n, TRIM_FRAME).pow(2).mean(1)
    loud = torch.nonzero(energy > energy.max() * 10 ** (-TRIM_DB / 10)).flatten()
    start = max(0, int(loud[0]) * TRIM_FRAME - TRIM_KEEP)
    end = min(len(wave), (int(loud[-1]) + 1) * TRIM_FRAME + TRIM_KEEP)
    return wave[start:end]


def _edges(y, v: Variation, power: float, gen) -> torch.Tensor:
    lead = torch.zeros(round(v.lead_s * SAMPLE_RATE))
    rms = math.sqrt(power)
    if v.breath_db:
        breath = _breath(gen) * rms * 10 ** (v.breath_db / 20)
        gap = int(SAMPLE_RATE * (0.05 + 0.2 * float(torch.rand((), generator=gen))))
        lead = torch.cat([torch.zeros(max(0, len(lead) - len(breath) - gap)), breath,
                          torch.zeros(gap)])  # fmt: skip
    if v.click:
        click = torch.randn(48, generator=gen) * torch.exp(-torch.arange(48) / 8.0)
        lead = torch.cat([torch.zeros(SAMPLE_RATE // 20), click * rms * 0.3, lead])
    return torch.cat([lead, y, torch.zeros(round(v.trail_s * SAMPLE_RATE))])


def _breath(gen) -> torch.Tensor:
    """An inhalation: pink noise band-passed around 1.5 kHz under a rise-and-fall
    envelope, 0.3-0.6 s, unit RMS."""
    n = int(SAMPLE_RATE * (0.3 + 0.3 * float(torch.rand((), generator=gen))))
    x = torchaudio.functional.bandpass_biquad(
        colored_noise(n, 1.0, gen), SAMPLE_RATE, 1500.0, 0.6
    )
    x = x * torch.sin(torch.linspace(0, math.pi, n)) ** 2
    return x / x.pow(2).mean().sqrt().clamp(min=1e-8)


def reverberate(y: torch.Tensor, rt60: float, direct: float, gen) -> torch.Tensor:
    """Convolve with a synthetic room impulse response: a direct path, then
    exponentially decaying noise reaching -60 dB after ``rt60`` seconds. The tail is
    kept, so the result is longer by about ``rt60``."""
    n = int(rt60 * SAMPLE_RATE)
    t = torch.arange(n) / SAMPLE_RATE
    rir = torch.randn(n, generator=gen) * torch.exp(-6.9078 * t / rt60)  # ln 1000
    rir = rir / rir.norm() * (1 - direct)
    rir[0] = direct
    wet = torchaudio.functional.fftconvolve(y, rir)
    return wet * (y.abs().max() / wet.abs().max().clamp(min=1e-8))


def _colour(y: torch.Tensor, v: Variation) -> torch.Tensor:
    for hz, db, q in v.eq:
        y = torchaudio.functional.equalizer_biquad(y, SAMPLE_RATE, hz, db, q)
    if v.highpass_hz:
        y = torchaudio.functional.highpass_biquad(y, SAMPLE_RATE, v.highpass_hz)
    if v.lowpass_hz:
        y = torchaudio.functional.lowpass_biquad(y, SAMPLE_RATE, v.lowpass_hz)
    return y


def _noise(n: int, kind: str, gen) -> torch.Tensor:
    """Unit-RMS background noise of ``kind``."""
    if kind == "hum":  # mains hum, 50 or 60 Hz with odd harmonics, and a little hiss
        base = 50.0 if float(torch.rand((), generator=gen)) < 0.5 else 60.0
        t = torch.arange(n) / SAMPLE_RATE
        x = sum(torch.sin(2 * math.pi * base * h * t) / h for h in (1, 3, 5, 7))
        x = x + 0.1 * torch.randn(n, generator=gen)
    else:
        x = colored_noise(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind], gen)
    return x / x.pow(2).mean().sqrt().clamp(min=1e-8)
