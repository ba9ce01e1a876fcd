"""MFCC features: ``FrontendConfig`` and the batched ``Frontend`` that turns
waveforms into normalised MFCC frames (torchaudio, on any device)."""

from __future__ import annotations

import torch
import torchaudio

from .mfcc import CMVN_EPS, FrontendConfig

__all__ = ["Frontend", "FrontendConfig"]  # FrontendConfig lives in mfcc (no torch)


def _repeat_last_frame(feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, F, T) features whose frames at and past ``lens`` copy frame ``lens - 1``."""
    frames = torch.arange(feats.shape[-1], device=feats.device)
    index = torch.minimum(frames[None, :], (lens[:, None] - 1).clamp(min=0))  # (B, T)
    return feats.gather(2, index[:, None, :].expand_as(feats))


class Frontend(torch.nn.Module):
    """Batched MFCC extraction with optional deltas and per-utterance CMVN.

    A module (with no trainable weights) so that it moves to the model's device and
    exports together with the encoder.
    """

    def __init__(self, config: FrontendConfig = FrontendConfig()):  # noqa: B008 (frozen)
        super().__init__()
        self.config = config
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=config.sample_rate,
            n_mfcc=config.n_mfcc,
            log_mels=True,  # log(mel + 1e-6): no top_db clamp that depends on the batch
            melkwargs={
                "n_fft": config.n_fft,
                "hop_length": config.hop_length,
                "n_mels": config.n_mels,
                "f_min": config.f_min,
                "f_max": config.f_max,
                "center": False,  # _reflect_pad centres the frames per utterance
            },
        )

    def _reflect_pad(
        self, waves: torch.Tensor, wave_lens: torch.Tensor
    ) -> torch.Tensor:
        """Reflect each waveform about its own ends by n_fft // 2 samples, as a centred
        STFT does, so the last frames of a short utterance in a padded batch see its
        own samples rather than the batch's zero padding. (B, N) -> (B, N + n_fft)."""
        half = self.config.n_fft // 2
        positions = torch.arange(-half, waves.shape[1] + half, device=waves.device)
        last = (wave_lens[:, None] - 1).to(waves.device)  # (B, 1)
        index = positions.abs()[None, :]  # (1, N + n_fft): reflect about 0
        index = torch.where(index > last, 2 * last - index, index)  # (B, ...) about end
        return waves.gather(1, index.clamp(min=0))

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of frames for waveforms of ``lengths`` samples (centred STFT)."""
        return lengths // self.config.hop_length + 1

    @torch.no_grad()
    def forward(
        self, waves: torch.Tensor, wave_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute features.

        Args:
            waves: (B, N) float waveforms at ``config.sample_rate``, zero-padded.
            wave_lens: (B,) valid samples per waveform.

        Returns:
            feats: (B, T, F) features, zero in padded frames.
            feat_lens: (B,) valid frames per utterance.
        """
        feat_lens = self.frame_lengths(wave_lens)
        feats = self.mfcc(self._reflect_pad(waves.float(), wave_lens))  # (B, n_mfcc, T)
        if self.config.deltas:
            # frames past an utterance's end repeat its last frame, as compute_deltas'
            # own edge padding does for the longest one: batching never changes deltas
            orders = [feats]
            for _ in range(self.config.deltas):
                last = _repeat_last_frame(orders[-1], feat_lens)
                orders.append(torchaudio.functional.compute_deltas(last))
            feats = torch.cat(orders, dim=1)
        feats = feats.transpose(1, 2)  # (B, F, T) -> (B, T, F)
        mask = (
            torch.arange(feats.shape[1], device=feats.device)[None, :]
            < (feat_lens[:, None])
        )  # (B, T)
        mask = mask.unsqueeze(-1).to(feats.dtype)
        if self.config.normalize:
            feats = self._normalize(feats, mask, feat_lens)
        return feats * mask, feat_lens

    @staticmethod
    def _normalize(feats, mask, feat_lens) -> torch.Tensor:
        """Per-utterance CMVN over the valid frames of (B, T, F) features.

        The statistics are summed in float64: in float32 the mean of T equal values
        is off by rounding, and dividing by the floored deviation of a constant
        signal (sqrt(CMVN_EPS), 0.003) turned that error into features that were
        not zero for digital silence. Now a constant signal normalises to zeros."""
        wide = feats.double()
        count = feat_lens.clamp(min=1)[:, None, None].double()
        mean = (wide * mask).sum(1, keepdim=True) / count
        var = (((wide - mean) * mask) ** 2).sum(1, keepdim=True) / count
        return ((wide - mean) / (var + CMVN_EPS).sqrt()).to(feats.dtype)
