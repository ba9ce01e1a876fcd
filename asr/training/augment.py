"""Data augmentation for training, all through torchaudio.

Two places, two kinds:

    waveform (in the DataLoader workers): speed perturbation -> additive noise at a
        random SNR -> telephone band (8 kHz round trip)
    features (on the training device):   SpecAugment frequency and time masks

Every waveform augmentation draws from a ``torch.Generator`` that the dataset seeds
from (seed, epoch, utterance index), so a run is reproducible whatever the number of
workers, and a resumed run sees the same augmented audio. The CTC target never changes:
speed perturbation stretches the audio, not the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torchaudio

from ..audio.io import SAMPLE_RATE, load_audio

TELEPHONE_RATE = 8_000  # Hz: narrow-band telephony keeps 300-3400 Hz of speech
TELEPHONE_LOW_CUT = 300.0  # Hz: the low edge of the telephone band
NOISE_FILE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # read from --noise-dir


@dataclass(frozen=True)
class AugmentConfig:
    speed_factors: tuple[float, ...] = (1.0,)  # speed perturbation: one factor is
    #                                           drawn per utterance; (0.9, 1.0, 1.1)
    #                                           is the usual set; (1.0,) turns it off
    noise_prob: float = 0.0  # chance an utterance gets additive noise
    noise_snr_db: tuple[float, ...] = (5.0, 20.0)  # SNR drawn uniformly in [low, high]
    noise_dir: str = ""  # folder of noise recordings (searched recursively); empty:
    #                      white or pink noise generated on the fly
    telephone_prob: float = 0.0  # chance an utterance goes through an 8 kHz round trip
    freq_masks: int = 0  # SpecAugment: frequency masks per utterance
    freq_mask_width: int = 8  # SpecAugment: widest frequency mask, in feature bins
    time_masks: int = 0  # SpecAugment: time masks per utterance
    time_mask_width: int = 20  # SpecAugment: widest time mask, in frames (10 ms)

    @property
    def waveform_enabled(self) -> bool:
        return (
            any(f != 1.0 for f in self.speed_factors)
            or self.noise_prob > 0
            or self.telephone_prob > 0
        )

    def validate(self) -> None:
        """Raises ValueError for settings that cannot work."""
        if not self.speed_factors or min(self.speed_factors) <= 0:
            raise ValueError("speed factors must be positive")
        if len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]:
            raise ValueError("--noise-snr-db takes two values, low then high")
        for name in ("noise_prob", "telephone_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.noise_dir and not _noise_files(self.noise_dir):
            raise ValueError(f"{self.noise_dir}: no noise recordings found")


def _noise_files(folder: str) -> list[Path]:
    return sorted(
        p for p in Path(folder).rglob("*") if p.suffix.lower() in NOISE_FILE_SUFFIXES
    )


def speed_perturb(wave: torch.Tensor, factor: float) -> torch.Tensor:
    """Play ``wave`` ``factor`` times faster (pitch moves too, as with sox ``speed``):
    (N,) -> (about N / factor,)."""
    if factor == 1.0:
        return wave
    faster, _ = torchaudio.functional.speed(wave[None], SAMPLE_RATE, factor)
    return faster[0]


def telephone(
    wave: torch.Tensor, sections: int = 1, high_cut: float = 0.0, mu_law: bool = False
) -> torch.Tensor:
    """Narrow-band telephone simulation: 16 kHz -> 8 kHz -> 16 kHz (nothing above
    4 kHz survives) and a 300 Hz high-pass. ``sections`` biquads in series (2: 4th
    order, steeper), each with a ``high_cut`` low-pass too when given; ``mu_law``
    codes the narrow band in 8-bit mu-law, at 0.9 peak (a line's gain control) and
    back to the level it came at. (N,) -> (N,)."""
    narrow = torchaudio.functional.resample(wave, SAMPLE_RATE, TELEPHONE_RATE)
    for _ in range(sections):
        narrow = torchaudio.functional.highpass_biquad(
            narrow, TELEPHONE_RATE, TELEPHONE_LOW_CUT
        )
        if high_cut:
            narrow = torchaudio.functional.lowpass_biquad(
                narrow, TELEPHONE_RATE, high_cut
            )
    if mu_law:
        scale = 0.9 / max(float(narrow.abs().max()), 1e-8)
        code = torchaudio.functional.mu_law_encoding((narrow * scale).clamp(-1, 1), 256)
        narrow = torchaudio.functional.mu_law_decoding(code, 256) / scale
    wide = torchaudio.functional.resample(narrow, TELEPHONE_RATE, SAMPLE_RATE)
    return torch.nn.functional.pad(wide, (0, max(0, len(wave) - len(wide))))[
        : len(wave)
    ]


def colored_noise(n: int, exponent: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise with a 1/f**exponent power spectrum: 0 white, 1 pink. (n,)."""
    white = torch.randn(n, generator=generator)
    if exponent == 0:
        return white
    spectrum = torch.fft.rfft(white)
    freqs = torch.fft.rfftfreq(n).clamp(min=1.0 / n)
    shaped = torch.fft.irfft(spectrum / freqs ** (exponent / 2), n=n)
    return shaped / shaped.std().clamp(min=1e-8)


class WaveAugment:
    """The waveform augmentations of an ``AugmentConfig``, as the ``transform`` of an
    ``AudioDataset``: ``augment(wave, generator) -> wave``, (N,) -> (N',)."""

    def __init__(self, config: AugmentConfig):
        config.validate()
        self.config = config
        self.noise_files = _noise_files(config.noise_dir) if config.noise_dir else []

    def __call__(self, wave: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cfg = self.config
        factor_index = torch.randint(len(cfg.speed_factors), (), generator=generator)
        wave = speed_perturb(wave, cfg.speed_factors[int(factor_index)])
        if _chance(cfg.noise_prob, generator):
            low, high = cfg.noise_snr_db
            snr = low + (high - low) * torch.rand((), generator=generator)
            noise = self._noise(len(wave), generator)
            wave = torchaudio.functional.add_noise(wave[None], noise[None], snr[None])[
                0
            ]
        if _chance(cfg.telephone_prob, generator):
            wave = telephone(wave)
        return wave.clamp(-1.0, 1.0)

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if not self.noise_files:
            exponent = float(torch.randint(2, (), generator=generator))  # white or pink
            return colored_noise(n, exponent, generator)
        index = int(torch.randint(len(self.noise_files), (), generator=generator))
        noise = torch.from_numpy(load_audio(self.noise_files[index]))
        noise = noise.repeat(n // len(noise) + 2)  # loop short recordings
        start = int(torch.randint(len(noise) - n, (), generator=generator))
        return noise[start : start + n]


def _chance(prob: float, generator: torch.Generator) -> bool:
    return prob > 0 and float(torch.rand((), generator=generator)) < prob


class SpecAugment(torch.nn.Module):
    """Frequency and time masks (Park et al., 2019) on a padded feature batch, drawn
    independently per utterance; identity in eval mode. (B, T, F) -> (B, T, F)."""

    def __init__(self, config: AugmentConfig):
        super().__init__()
        self.freq = [
            torchaudio.transforms.FrequencyMasking(
                config.freq_mask_width, iid_masks=True
            )
            for _ in range(config.freq_masks)
        ]
        self.time = [
            torchaudio.transforms.TimeMasking(config.time_mask_width, iid_masks=True)
            for _ in range(config.time_masks)
        ]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if not self.training or not (self.freq or self.time):
            return feats
        spec = feats.transpose(1, 2)[:, None]  # (B, T, F) -> (B, 1, F, T) as torchaudio
        for mask in self.freq + self.time:
            spec = mask(spec)
        return spec[:, 0].transpose(1, 2)
