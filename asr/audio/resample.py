"""Windowed-sinc resampling in numpy, the same arithmetic as
``torchaudio.functional.resample`` (its default ``sinc_interp_hann``, 6 zero
crossings, rolloff 0.99), so that audio read with or without torch gives the same
samples. A port rather than soxr or scipy: those use other filters, and the models
were trained on torchaudio's (tests/test_onnx.py checks the two agree)."""

from __future__ import annotations

import math

import numpy as np

LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side (torchaudio's default)
ROLLOFF = 0.99  # cut-off as a share of the lower Nyquist rate (torchaudio's default)


def sinc_kernel(source_rate: int, target_rate: int) -> tuple[np.ndarray, int]:
    """The (new, 2 * width + orig) filter bank and ``width`` for rates reduced by
    their gcd (``orig``, ``new``), as torchaudio's ``_get_sinc_resample_kernel``
    builds it in float32."""
    gcd = math.gcd(source_rate, target_rate)
    orig, new = source_rate // gcd, target_rate // gcd
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_WIDTH * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float32)[None, :] / orig
    t = np.arange(0, -new, -1, dtype=np.float32)[:, None] / new + idx  # (new, K)
    t = np.clip(t * np.float32(base), -LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = np.cos(t * np.float32(math.pi / LOWPASS_WIDTH / 2)) ** 2
    t = t * np.float32(math.pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, np.float32(1.0), np.sin(t) / t)
    return (kernel * window * np.float32(base / orig)).astype(np.float32), width


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """(N,) float32 samples at ``source_rate`` -> (ceil(N * new / orig),) at
    ``target_rate``, zero-padded at both ends as torchaudio pads."""
    if source_rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    kernel, width = sinc_kernel(source_rate, target_rate)
    gcd = math.gcd(source_rate, target_rate)
    orig, new = source_rate // gcd, target_rate // gcd
    out = apply_kernel(np.asarray(samples, np.float32), kernel, width, orig)
    return out[: math.ceil(new * len(samples) / orig)]


def apply_kernel(
    samples: np.ndarray, kernel: np.ndarray, width: int, orig: int
) -> np.ndarray:
    """torchaudio's strided conv1d of the padded samples with the filter bank:
    one output per filter for every ``orig`` input samples, interleaved."""
    padded = np.pad(samples, (width, width + orig))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig]
    return (windows @ kernel.T).reshape(-1)  # (frames, new) -> (frames * new,)
