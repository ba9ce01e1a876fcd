"""Training data: JSONL manifests, a dataset of (waveform, label ids), length-bucketed
batches and the collate function that pads them.

A manifest has one JSON object per line: ``{"audio": path, "text": str,
"duration": seconds}``; a relative ``audio`` path is relative to the manifest's folder.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..audio.io import AudioError, load_audio
from ..core.text import CharTokenizer

log = logging.getLogger(__name__)


class AudioDataset(Dataset):
    """Manifest entries as (waveform, label ids). An entry whose audio fails to load
    is returned as None (and logged) so the collate function can drop it.

    ``transform(wave, generator) -> wave`` (e.g. ``augment.WaveAugment``) gets a
    generator seeded from (``seed``, the epoch set by ``set_epoch``, the index), so the
    same utterance is augmented the same way in the same epoch, in any worker.
    """

    def __init__(
        self,
        entries: list[dict],
        tokenizer: CharTokenizer,
        transform=None,
        seed: int = 0,
    ):
        self.entries = entries
        self.tokenizer = tokenizer
        self.transform = transform
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation; takes effect in workers started after the call."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int):
        entry = self.entries[index]
        try:
            wave = torch.from_numpy(np.ascontiguousarray(load_audio(entry["audio"])))
        except AudioError as error:
            log.warning("skipping %s", error)
            return None
        if self.transform is not None:
            generator = torch.Generator().manual_seed(
                (self.seed * 1_000_003 + self.epoch) * 10_000_019 + index
            )
            wave = self.transform(wave, generator)
        return wave, torch.tensor(
            self.tokenizer.encode(entry["text"]), dtype=torch.long
        )


@dataclass
class Batch:
    waves: torch.Tensor  # (B, N) float32, zero-padded
    wave_lens: torch.Tensor  # (B,) samples
    targets: torch.Tensor  # (B, L) label ids, zero-padded
    target_lens: torch.Tensor  # (B,) labels
    skipped: int = 0  # entries dropped because their audio failed to load

    def to(self, device) -> Batch:
        return Batch(
            self.waves.to(device, non_blocking=True),
            self.wave_lens.to(device),
            self.targets.to(device),
            self.target_lens.to(device),
            self.skipped,
        )

    def __len__(self) -> int:
        return len(self.wave_lens)


def collate(items: list) -> Batch:
    """Pad waveforms and targets of a list of dataset items into a Batch. Failed
    items (None) are dropped and counted in ``skipped``; when all failed, the batch
    is empty (``len(batch) == 0``)."""
    good = [item for item in items if item is not None]
    if not good:
        empty = torch.zeros(0, dtype=torch.long)
        return Batch(torch.zeros(0, 0), empty, torch.zeros(0, 0, dtype=torch.long),
                     empty, skipped=len(items))  # fmt: skip
    waves, targets = zip(*good, strict=True)  # every item is a (wave, target) pair
    return Batch(
        torch.nn.utils.rnn.pad_sequence(waves, batch_first=True),
        torch.tensor([len(w) for w in waves]),
        torch.nn.utils.rnn.pad_sequence(targets, batch_first=True),
        torch.tensor([len(t) for t in targets]),
        skipped=len(items) - len(good),
    )


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar duration: entries sorted by length are cut into batches of
    at most ``batch_size`` items and ``max_batch_seconds`` of padded audio, and the
    batch order is shuffled each epoch (reproducibly from ``seed`` and the epoch).

    For data-parallel training each of ``num_replicas`` ranks takes every
    ``num_replicas``-th batch of the shuffled order, starting at its ``rank``; the
    order is first padded by repeating its head, so every rank gets the same number
    of batches (as ``torch.utils.data.DistributedSampler`` does for items).
    ``start_batch`` skips this rank's first batches (resuming mid-epoch).
    """

    def __init__(
        self,
        durations: list[float],
        batch_size: int,
        max_batch_seconds: float,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.batches = self._make_batches(durations, batch_size, max_batch_seconds)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.num_replicas, self.rank, self.start_batch = num_replicas, rank, 0

    @staticmethod
    def _make_batches(durations, batch_size, max_seconds) -> list[list[int]]:
        batches, current, longest = [], [], 0.0
        for i in sorted(range(len(durations)), key=durations.__getitem__):
            longest_if_added = max(longest, durations[i])
            # padded cost of the batch: every item is as long as the longest one
            if current and (
                len(current) >= batch_size
                or longest_if_added * (len(current) + 1) > max_seconds
            ):
                batches.append(current)
                current, longest_if_added = [], durations[i]
            current.append(i)
            longest = longest_if_added
        if current:
            batches.append(current)
        return batches

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def epoch_batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch, all of them."""
        order = list(range(len(self.batches)))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        padded = [order[i % len(order)] for i in range(len(self) * self.num_replicas)]
        return [self.batches[i] for i in padded[self.rank :: self.num_replicas]]

    def __iter__(self):
        return iter(self.epoch_batches()[self.start_batch :])

    def __len__(self) -> int:
        """Batches per rank and epoch (``start_batch`` not subtracted)."""
        return -(-len(self.batches) // self.num_replicas)


def train_loader(
    dataset: AudioDataset,
    batch_size: int,
    max_batch_seconds: float,
    slowest_speed: float = 1.0,
    *,
    seed: int = 0,
    num_workers: int = 1,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> DataLoader:
    """A training DataLoader over ``dataset``: this rank's length-bucketed batches
    (``BucketBatchSampler``), collated, read by ``num_workers`` processes.

    ``slowest_speed`` < 1 (speed perturbation) makes audio longer, so the buckets
    budget for it: a 0.9 speed makes audio 11 % longer.
    """
    sampler = BucketBatchSampler(
        [e["duration"] / min(slowest_speed, 1.0) for e in dataset.entries],
        batch_size, max_batch_seconds, seed=seed, num_replicas=world_size, rank=rank,
    )  # fmt: skip
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        # workers restart each epoch so they see the dataset's new epoch seed
        persistent_workers=False,
        # its own generator: iterating never draws from the global torch RNG,
        # which must replay exactly after a mid-epoch resume
        generator=torch.Generator().manual_seed(seed),
        pin_memory=pin_memory,
    )
