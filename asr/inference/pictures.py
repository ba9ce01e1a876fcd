"""Pictures of what the model hears: the waveform, its features (the model's own MFCC
or a mel spectrogram through the model's filterbank) and the CTC posteriors, as
matplotlib figures (no pyplot state, so they are safe to draw from a web server's
threads). Features are drawn with ``librosa.display.specshow``, the field's usual
picture: time in seconds, frequency in Hz on the mel scale.

    waveform, features, posteriors = draw_pictures(asr.load_model(), samples)
    posteriors.savefig("posteriors.png")
"""

from __future__ import annotations

import librosa
import librosa.display
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..audio.io import SAMPLE_RATE
from ..core.text import BLANK
from .recognizer import ASRModel

FIGSIZE = (9.0, 3.0)  # inches per figure: wide and short, three stacked on a page


def draw_pictures(
    model: ASRModel, wave: np.ndarray, view: str = "MFCC"
) -> list[Figure]:
    """Three figures of 16 kHz audio.

    Args:
        model: gives the features (its frontend) and the posteriors (its encoder).
        wave: (N,) float32 samples at 16 kHz.
        view: "MFCC" for the model's normalised MFCC input, else a spectrogram.

    Returns:
        [waveform, features, CTC posteriors (characters by time)].
    """
    seconds = len(wave) / SAMPLE_RATE
    figures = [Figure(figsize=FIGSIZE, layout="constrained") for _ in range(3)]
    axes = [f.subplots() for f in figures]
    axes[0].plot(np.arange(len(wave)) / SAMPLE_RATE, wave, linewidth=0.5)
    axes[0].set(title="Waveform", xlabel="seconds", xlim=(0, seconds), ylim=(-1, 1))
    if view == "MFCC":
        _draw_mfcc(axes[1], model, wave)
    else:
        _draw_mel_spectrogram(axes[1], model, wave)
    _draw_posteriors(axes[2], model, wave, seconds)
    return figures


def _draw_mfcc(axis: Axes, model: ASRModel, wave: np.ndarray) -> None:
    waves = torch.from_numpy(np.asarray(wave, np.float32))[None].to(model.device)
    feats, _ = model.frontend(waves, torch.tensor([len(wave)], device=model.device))
    image = feats[0].T.cpu().numpy()  # (T, F) -> (F, T)
    config = model.frontend.config
    mesh = librosa.display.specshow(image, sr=config.sample_rate, x_axis="time",
                                    hop_length=config.hop_length, ax=axis)  # fmt: skip
    axis.figure.colorbar(mesh, ax=axis)
    axis.set(title="MFCC (model input)", ylabel="coefficient")


def _draw_mel_spectrogram(axis: Axes, model: ASRModel, wave: np.ndarray) -> None:
    """Power through the model's mel filterbank (HTK mel scale, its band), in dB."""
    c = model.frontend.config
    power = librosa.feature.melspectrogram(
        y=np.asarray(wave, np.float32), sr=c.sample_rate, n_fft=c.n_fft,
        hop_length=c.hop_length, n_mels=c.n_mels, fmin=c.f_min, fmax=c.f_max,
        htk=True, norm=None, pad_mode="reflect",
    )  # fmt: skip
    mesh = librosa.display.specshow(
        librosa.power_to_db(power, ref=np.max), sr=c.sample_rate, x_axis="time",
        y_axis="mel", hop_length=c.hop_length, fmin=c.f_min, fmax=c.f_max, htk=True,
        ax=axis,
    )  # fmt: skip
    axis.figure.colorbar(mesh, ax=axis, format="%+2.0f dB")
    axis.set(title="Mel spectrogram (the model's filterbank)")


def _draw_posteriors(
    axis: Axes, model: ASRModel, wave: np.ndarray, seconds: float
) -> None:
    log_probs, lengths = model.posteriors([wave])
    probs = log_probs[0, : int(lengths[0])].exp().T.cpu().numpy()  # (T', V) -> (V, T')
    labels = list(model.tokenizer.vocab)
    labels[BLANK] = "∅"
    labels = ["␣" if c == " " else c for c in labels]
    extent = (0, seconds, -0.5, len(labels) - 0.5)
    axis.imshow(probs, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1,
                extent=extent, interpolation="nearest")  # fmt: skip
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    axis.set(title="CTC posteriors: which character the model heard when (∅ = blank)",
             xlabel="seconds")  # fmt: skip


def reliability_figure(tables: dict, title: str) -> Figure:
    """A reliability diagram: the share of answers right against the confidence
    given, one line per {label: (table, ECE)} of ``asr.core.metrics.calibration``."""
    figure = Figure(figsize=(4.5, 4.5))
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], "k:", label="perfect calibration")
    for label, (table, ece) in tables.items():
        confidence = [c for *_, c, _ in table]
        right = [a for *_, a in table]
        axis.plot(confidence, right, "o-", label=f"{label} (ECE {100 * ece:.1f} %)")
    axis.set(xlabel="confidence given", ylabel="share of answers right", xlim=(0, 1),
             ylim=(0, 1), title=title)  # fmt: skip
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return figure
