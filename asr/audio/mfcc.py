"""MFCC features in numpy: ``FrontendConfig`` and ``NumpyFrontend``, the same
features as the torchaudio ``Frontend`` (asr/audio/features.py) without torch, for
the ONNX runtime. Each step ports the torchaudio function it replaces (periodic Hann
window, power spectrum of an uncentred STFT after per-utterance reflect padding, HTK
mel filterbank without norm, log(mel + 1e-6), orthonormal DCT-II, deltas with
replicated edges, per-utterance CMVN): librosa's defaults differ in several of these
(Slaney mel scale, centring, dB scaling), so a port is simpler than configuring it.
tests/test_onnx.py checks it against the torchaudio frontend on real speech."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .io import HOP_LENGTH, N_FFT, N_MELS, N_MFCC, SAMPLE_RATE

LOG_OFFSET = 1e-6  # torchaudio's MFCC(log_mels=True): log(mel + 1e-6)
CMVN_EPS = 1e-5  # variance floor of the per-utterance normalisation
DELTA_WINDOW = 5  # frames of torchaudio.functional.compute_deltas' regression


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = SAMPLE_RATE  # Hz of the waveforms the frontend accepts
    n_fft: int = N_FFT  # samples per analysis window (25 ms)
    hop_length: int = HOP_LENGTH  # samples between frames (10 ms)
    n_mels: int = N_MELS  # mel filterbank channels
    n_mfcc: int = N_MFCC  # cepstral coefficients kept
    f_min: float = 20.0  # Hz, lowest mel filter edge
    f_max: float = 7600.0  # Hz, highest mel filter edge (below Nyquist)
    deltas: int = 0  # 0: static MFCCs; 1: + deltas; 2: + deltas and delta-deltas
    normalize: bool = True  # per-utterance mean/variance normalisation

    @property
    def n_features(self) -> int:
        """Feature dimension per frame: n_mfcc times (1 + deltas)."""
        return self.n_mfcc * (1 + self.deltas)


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular HTK-mel filters, no area normalisation
    (``torchaudio.functional.melscale_fbanks``)."""
    n_freqs = config.n_fft // 2 + 1
    freqs = np.linspace(0, config.sample_rate // 2, n_freqs)
    low, high = (
        2595.0 * math.log10(1.0 + f / 700.0) for f in (config.f_min, config.f_max)
    )
    edges = 700.0 * (10 ** (np.linspace(low, high, config.n_mels + 2) / 2595.0) - 1.0)
    slopes = edges[None, :] - freqs[:, None]  # (n_freqs, n_mels + 2)
    width = np.diff(edges)
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_mfcc) orthonormal DCT-II (``torchaudio.functional.create_dct``)."""
    n = np.arange(n_mels, dtype=np.float64)
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    dct = np.cos(math.pi / n_mels * (n + 0.5) * k)  # (n_mfcc, n_mels)
    dct[0] *= 1.0 / math.sqrt(2.0)
    return (dct * math.sqrt(2.0 / n_mels)).T.astype(np.float32)


def compute_deltas(feats: np.ndarray) -> np.ndarray:
    """(F, T) -> (F, T) regression deltas over DELTA_WINDOW frames, edges replicated
    (``torchaudio.functional.compute_deltas``)."""
    n = (DELTA_WINDOW - 1) // 2
    denom = n * (n + 1) * (2 * n + 1) / 3
    padded = np.pad(feats, ((0, 0), (n, n)), mode="edge")
    frames = feats.shape[1]
    total = sum(k * padded[:, n + k : n + k + frames] for k in range(-n, n + 1))
    return (total / denom).astype(np.float32)


class NumpyFrontend:
    """The torchaudio ``Frontend``'s features, one utterance at a time, in numpy."""

    def __init__(self, config: FrontendConfig = FrontendConfig()):
        self.config = config
        self.window = np.hanning(config.n_fft + 1)[:-1].astype(np.float32)  # periodic
        self.mel = mel_filterbank(config)
        self.dct = dct_matrix(config.n_mfcc, config.n_mels)

    def frame_count(self, samples: int) -> int:
        """Frames for a waveform of ``samples`` samples (centred STFT)."""
        return samples // self.config.hop_length + 1

    def _reflect_pad(self, wave: np.ndarray) -> np.ndarray:
        """``Frontend._reflect_pad`` for one waveform: (N,) -> (N + n_fft,)."""
        half, last = self.config.n_fft // 2, len(wave) - 1
        index = np.abs(np.arange(-half, len(wave) + half))
        index = np.where(index > last, 2 * last - index, index)
        return wave[np.maximum(index, 0)]

    def features(self, wave: np.ndarray) -> np.ndarray:
        """(N,) float32 samples -> (T, F) features, T = N // hop + 1."""
        config = self.config
        padded = self._reflect_pad(np.asarray(wave, dtype=np.float32))
        frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft)
        frames = frames[:: config.hop_length] * self.window  # (T, n_fft)
        power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (T, n_fft // 2 + 1)
        mel = np.log(power.astype(np.float32) @ self.mel + LOG_OFFSET)  # (T, n_mels)
        feats = (mel @ self.dct).T  # (n_mfcc, T)
        orders = [feats]
        for _ in range(config.deltas):
            orders.append(compute_deltas(orders[-1]))
        feats = np.concatenate(orders, axis=0).T  # (F, T) -> (T, F)
        if config.normalize:  # in float64, so a constant signal gives zeros
            wide = feats.astype(np.float64)  # (see Frontend._normalize)
            mean = wide.mean(axis=0, keepdims=True)
            var = ((wide - mean) ** 2).mean(axis=0, keepdims=True)
            feats = (wide - mean) / np.sqrt(var + CMVN_EPS)
        return feats.astype(np.float32)

    def __call__(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """16 kHz waveforms -> (B, T, F) features, zero-padded, and (B,) lengths."""
        feats = [self.features(w) for w in waves]
        lens = np.array([len(f) for f in feats], dtype=np.int64)
        batch = np.zeros(
            (len(feats), int(lens.max()), self.config.n_features), np.float32
        )
        for i, f in enumerate(feats):
            batch[i, : len(f)] = f
        return batch, lens
