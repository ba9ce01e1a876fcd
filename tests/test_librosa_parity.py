"""Our MFCC (torchaudio, batched, in asr.audio.features.Frontend) against librosa's, the
field's reference implementation.

With matched settings they agree. librosa's *defaults* differ from ours in three
documented ways (docs/decoding.md does not depend on them; the model was trained
on ours):
  - log: librosa takes ``power_to_db`` (10 log10, floor 1e-10, and a clamp to
    ``top_db=80`` below the loudest bin); we take the natural log of power + 1e-6.
    Away from the floors, ours = librosa's x ln(10) / 10.
  - mel scale: librosa defaults to Slaney's formula with area-normalised filters;
    we use HTK's formula without normalisation (torchaudio's default).
  - padding: librosa centres frames with zero padding; we reflect each utterance
    about its own ends (so batching does not change its features).
"""

import math

import numpy as np
import pytest
import torch
from conftest import KATHLEEN

from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import load_audio

librosa = pytest.importorskip("librosa")

CFG = FrontendConfig(normalize=False)  # plain MFCCs: no deltas, no CMVN


@pytest.fixture(scope="module")
def wave() -> np.ndarray:
    return load_audio(KATHLEEN[0])


@pytest.fixture(scope="module")
def ours(wave) -> np.ndarray:
    feats, _ = Frontend(CFG)(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    return feats[0].numpy().T  # (T, n_mfcc) -> (n_mfcc, T), librosa's layout


def mel_power(wave: np.ndarray, **overrides) -> np.ndarray:
    settings = dict(
        y=wave, sr=CFG.sample_rate, n_fft=CFG.n_fft, hop_length=CFG.hop_length,
        n_mels=CFG.n_mels, fmin=CFG.f_min, fmax=CFG.f_max, power=2.0,
        htk=True, norm=None, center=True, pad_mode="reflect",
    )  # fmt: skip
    return librosa.feature.melspectrogram(**{**settings, **overrides})


def test_mfcc_matches_librosa_with_matched_settings(wave, ours):
    log_mel = np.log(mel_power(wave) + 1e-6)
    reference = librosa.feature.mfcc(
        S=log_mel, n_mfcc=CFG.n_mfcc, dct_type=2, norm="ortho"
    )
    assert reference.shape == ours.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=2e-3)


def test_librosa_default_log_is_db_a_constant_factor_away(wave, ours):
    """librosa's default log (power_to_db: 10 log10) of our mel power with our
    floor: ours is ln(10) / 10 times its MFCCs (the DCT is linear)."""
    db = librosa.power_to_db(mel_power(wave) + 1e-6, top_db=None)
    reference = librosa.feature.mfcc(S=db, n_mfcc=CFG.n_mfcc)
    np.testing.assert_allclose(
        ours, reference * math.log(10) / 10, rtol=1e-3, atol=2e-3
    )


def test_librosa_slaney_defaults_are_a_different_feature(wave, ours):
    """The documented difference is real: librosa's full defaults (Slaney mel,
    dB, zero padding) do not give our features, so a model trained on ours must
    not be fed librosa.feature.mfcc output as it comes."""
    power = mel_power(wave, htk=False, norm="slaney", pad_mode="constant")
    theirs = librosa.feature.mfcc(S=np.log(power + 1e-6), n_mfcc=CFG.n_mfcc)
    assert np.abs(theirs - ours).mean() > 0.1
