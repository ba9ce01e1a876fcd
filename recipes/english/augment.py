"""Waveform augmentations for synthetic speech: speed, room reverberation, telephone
band and noise. Each takes a (N,) float tensor at SAMPLE_RATE and a numpy Generator,
so that one seed fixes every draw."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from asr.audio import SAMPLE_RATE

SPEED_STEP = 0.02  # speed perturbation factors are multiples of this


def perturb_speed(wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Play 0.9-1.1 times as fast (tempo and pitch together, as in Kaldi's speed
    perturbation): resample and keep the original rate. The factor is a multiple
    of 0.02 so the two rates share a large divisor (320 Hz) and the polyphase
    resampling kernel stays small; a factor like 0.9731 would make it huge."""
    factor = SPEED_STEP * int(rng.integers(45, 56))  # 0.90, 0.92, ..., 1.10
    return torchaudio.functional.resample(
        wave, round(SAMPLE_RATE * factor), SAMPLE_RATE
    )


def add_reverb(wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Convolve with a synthetic room impulse response: a direct path, then
    exponentially decaying noise with RT60 0.15-0.8 s (no RIR data set is at hand)."""
    rt60 = float(rng.uniform(0.15, 0.8))
    n = int(rt60 * SAMPLE_RATE)
    t = torch.arange(n) / SAMPLE_RATE
    rir = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    rir = rir * torch.exp(-6.9078 * t / rt60)  # 60 dB decay: ln(1000) = 6.9078
    rir[0] = 1.0 / float(rng.uniform(0.3, 1.0))  # direct-to-reverberant ratio varies
    rir = rir / rir.norm()
    wet = torchaudio.functional.fftconvolve(wave, rir)[: len(wave)]
    return wet * (wave.abs().max() / wet.abs().max().clamp(min=1e-8))


def telephone(wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Down to 8 kHz and back, then a 300 Hz high-pass: the narrow band of a phone."""
    narrow = torchaudio.functional.resample(wave, SAMPLE_RATE, 8000)
    wide = torchaudio.functional.resample(narrow, 8000, SAMPLE_RATE)[: len(wave)]
    wide = torch.nn.functional.pad(wide, (0, len(wave) - len(wide)))
    return torchaudio.functional.highpass_biquad(wide, SAMPLE_RATE, 300.0)


def add_noise(wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """White, pink or brown noise at a signal-to-noise ratio of 5-30 dB."""
    spectrum = np.fft.rfft(rng.standard_normal(len(wave)))
    freqs = np.maximum(np.fft.rfftfreq(len(wave)), 1.0 / len(wave))
    slope = rng.choice([0.0, 0.5, 1.0])  # amplitude ~ f^-slope: white, pink, brown
    noise = torch.from_numpy(
        np.fft.irfft(spectrum / freqs**slope, n=len(wave)).astype(np.float32)
    )
    snr = torch.tensor([float(rng.uniform(5, 30))])
    return torchaudio.functional.add_noise(wave[None], noise[None], snr)[0]


AUGMENTATIONS = {  # name -> (wave (N,), rng) -> wave; applied in this order
    "speed": perturb_speed,
    "reverb": add_reverb,
    "telephone": telephone,
    "noise": add_noise,
}


def augment(wave: np.ndarray, kinds: tuple[str, ...], seed: int) -> np.ndarray:
    """Apply the named augmentations in order, drawing from ``seed``; the result is
    peak-normalised below clipping."""
    rng = np.random.default_rng(seed)
    out = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    for kind in kinds:
        out = AUGMENTATIONS[kind](out, rng)
    peak = float(out.abs().max())
    if peak > 0.99:
        out = out * (0.99 / peak)
    return out.numpy()
