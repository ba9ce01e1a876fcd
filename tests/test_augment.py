import math

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio.io import SAMPLE_RATE
from asr.training.augment import (
    AugmentConfig,
    SpecAugment,
    WaveAugment,
    colored_noise,
    speed_perturb,
    telephone,
)


def tone(seconds=1.0, hz=440.0, amplitude=0.1):
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return amplitude * torch.sin(2 * math.pi * hz * t)


def band_power(wave, low_hz, high_hz):
    spectrum = torch.fft.rfft(wave).abs() ** 2
    freqs = torch.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)
    return spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum().item()


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_length_by_the_factor(factor):
    wave = tone(1.0)
    out = speed_perturb(wave, factor)
    assert (
        abs(len(out) - SAMPLE_RATE / factor) <= 2
    )  # 0.9 -> 17778 samples, 1.1 -> 14545
    assert speed_perturb(wave, 1.0) is wave


def test_telephone_band_removes_everything_above_4_khz():
    white = torch.randn(SAMPLE_RATE, generator=torch.Generator().manual_seed(0)) * 0.1
    out = telephone(white)
    assert out.shape == white.shape
    # 16 kHz -> 8 kHz -> 16 kHz: 4.2-8 kHz loses over 20 dB (the resampler's
    # transition band ends near 4.5 kHz), 5-8 kHz over 40 dB; 1-3 kHz stays
    assert band_power(out, 4200, 8000) < 1e-2 * band_power(white, 4200, 8000)
    assert band_power(out, 5000, 8000) < 1e-4 * band_power(white, 5000, 8000)
    assert band_power(out, 1000, 3000) > 0.5 * band_power(white, 1000, 3000)
    assert band_power(out, 0, 150) < 0.1 * band_power(white, 0, 150)  # 300 Hz high-pass


def test_noise_is_added_at_the_drawn_snr():
    clean = tone(1.0, amplitude=0.1)
    augment = WaveAugment(AugmentConfig(noise_prob=1.0, noise_snr_db=(10.0, 10.0)))
    noisy = augment(clean, torch.Generator().manual_seed(1))
    noise = noisy - clean
    snr_db = 10 * math.log10(clean.pow(2).sum() / noise.pow(2).sum())
    assert snr_db == pytest.approx(10.0, abs=0.1)


def test_noise_from_a_folder_of_recordings(tmp_path):
    rumble = 0.5 * np.sin(2 * np.pi * 60 * np.arange(4000) / SAMPLE_RATE)  # 60 Hz hum
    sf.write(tmp_path / "hum.wav", rumble.astype(np.float32), SAMPLE_RATE)
    clean = tone(1.0, hz=2000)
    config = AugmentConfig(
        noise_prob=1.0, noise_snr_db=(0.0, 0.0), noise_dir=str(tmp_path)
    )
    noise = WaveAugment(config)(clean, torch.Generator().manual_seed(0)) - clean
    # the added noise is the looped 60 Hz hum, at the clean signal's power (0 dB)
    assert band_power(noise, 40, 80) > 0.95 * band_power(noise, 0, 8000)
    assert noise.pow(2).mean().item() == pytest.approx(
        clean.pow(2).mean().item(), rel=0.01
    )


def test_pink_noise_has_more_power_at_low_frequencies():
    generator = torch.Generator().manual_seed(0)
    white, pink = colored_noise(16000, 0, generator), colored_noise(16000, 1, generator)
    ratio = lambda x: band_power(x, 50, 500) / band_power(x, 5000, 5450)  # noqa: E731
    assert ratio(white) == pytest.approx(1.0, rel=0.3)  # equal-width bands, equal power
    assert ratio(pink) > 5  # 1/f: ~ln(10)/ln(1.09) ~ 27 times more in the low band


def test_waveform_augmentation_is_reproducible_from_the_generator_seed():
    augment = WaveAugment(AugmentConfig(speed_factors=(0.9, 1.0, 1.1), noise_prob=0.5,
                                        telephone_prob=0.5))  # fmt: skip
    wave = tone(0.5)
    outputs = [augment(wave, torch.Generator().manual_seed(s)) for s in (3, 3, 4, 5, 6)]
    assert torch.equal(outputs[0], outputs[1])
    assert len({tuple(o[:50].tolist()) for o in outputs[1:]}) == 4
    assert {len(o) for o in outputs} <= {7273, 8000, 8889}  # 8000 / 1.1, / 1.0, / 0.9


def test_spec_augment_masks_whole_bands_and_frames_in_training_only():
    torch.manual_seed(0)
    config = AugmentConfig(freq_masks=2, freq_mask_width=5, time_masks=2,
                           time_mask_width=10)  # fmt: skip
    spec_augment = SpecAugment(config)
    feats = torch.ones(3, 100, 40)  # (B, T, F)
    out = spec_augment(feats)
    assert out.shape == feats.shape
    zero_bins = (out == 0).all(dim=1)  # (B, F): a bin masked in every frame
    zero_frames = (out == 0).all(dim=2)  # (B, T): a frame masked in every bin
    assert 0 < zero_bins.sum() <= 3 * 2 * 5 and 0 < zero_frames.sum() <= 3 * 2 * 10
    assert not torch.equal(zero_frames[0], zero_frames[1])  # drawn per utterance
    assert ((out == 0) == (zero_bins[:, None, :] | zero_frames[:, :, None])).all()
    assert torch.equal(spec_augment.eval()(feats), feats)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"speed_factors": (0.0, 1.0)}, "positive"),
        ({"noise_snr_db": (20.0, 5.0)}, "low then high"),
        ({"noise_prob": 1.5}, "within"),
        ({"noise_dir": "/nonexistent"}, "no noise recordings"),
    ],
)
def test_bad_augmentation_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**overrides).validate()


def test_dataset_augments_the_same_in_a_worker_process_and_per_epoch():
    from conftest import DATA, DIGITS
    from torch.utils.data import DataLoader

    from asr.core.text import CharTokenizer
    from asr.data.dataset import AudioDataset

    entries = [
        {"audio": str(DATA / n), "text": t, "duration": 1.0} for n, t in DIGITS.items()
    ]
    augment = WaveAugment(AugmentConfig(speed_factors=(0.9, 1.1), noise_prob=1.0))
    dataset = AudioDataset(entries, CharTokenizer(), augment, seed=7)
    dataset.set_epoch(3)
    here = [dataset[i][0] for i in range(4)]
    loader = DataLoader(dataset, batch_size=None, num_workers=1)
    there = [wave for wave, _ in loader]
    # the same draws; a worker runs one torch thread, so allow float rounding only
    for a, b in zip(here, there, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    dataset.set_epoch(4)
    assert not torch.equal(dataset[0][0], here[0])  # a new draw each epoch
