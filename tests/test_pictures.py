"""Pictures of what the model hears: waveform, features and CTC posteriors; the
reliability diagram of grammar answers."""

import numpy as np
import pytest
from conftest import DATA

from asr.audio.io import load_audio
from asr.core.metrics import calibration
from asr.inference.pictures import draw_pictures, reliability_figure
from asr.inference.transcribe import load_model


@pytest.fixture
def model(tiny_checkpoint):
    return load_model(tiny_checkpoint)


def test_pictures_show_the_model_view(model):
    wave = load_audio(DATA / "4_theo_2.wav")
    figures = draw_pictures(model, wave, "MFCC")
    waveform, features, posteriors = (f.axes[0] for f in figures)
    assert len(waveform.lines[0].get_xdata()) == len(wave)
    mfcc = features.collections[0].get_array()  # librosa.display.specshow's mesh
    assert mfcc.shape[0] == model.frontend.config.n_features
    assert features.get_xlabel() == "Time"  # seconds, from the hop length
    log_probs, lengths = model.posteriors([wave])
    heat = posteriors.images[0].get_array()
    assert heat.shape == (len(model.tokenizer.vocab), int(lengths[0]))
    assert np.allclose(heat.sum(axis=0), 1.0, atol=1e-4)  # a distribution per frame
    spectrogram = draw_pictures(model, wave, "spectrogram")[1].axes[0]
    assert spectrogram.get_ylabel() == "Hz" and spectrogram.get_yscale() == "symlog"
    mel = spectrogram.collections[0].get_array()
    assert mel.shape[0] == model.frontend.config.n_mels and mel.max() == 0  # dB re max


def test_reliability_figure_plots_each_bin():
    tables = {"ours": calibration([0.25, 0.25, 0.95], [1, 0, 1])}
    axis = reliability_figure(tables, "answers").axes[0]
    diagonal, ours = axis.lines
    assert list(ours.get_xdata()) == pytest.approx([0.25, 0.95])
    assert list(ours.get_ydata()) == pytest.approx([0.5, 1.0])
    assert "ECE" in axis.get_legend().get_texts()[1].get_text()
