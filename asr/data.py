"""Training data: JSONL manifests, a dataset of (waveform, label ids), length-bucketed
batches and the collate function that pads them.

A manifest has one JSON object per line: ``{"audio": path, "text": str,
"duration": seconds}``; a relative ``audio`` path is relative to the manifest's folder.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .audio import AudioError, load_audio
from .text import CharTokenizer

log = logging.getLogger(__name__)


def read_manifest(path: str | Path) -> list[dict]:
    """Read a JSONL manifest, resolving relative audio paths against its folder.

    Raises:
        ValueError: a line that is not JSON or lacks ``audio``/``text``/``duration``.
    """
    path = Path(path)
    entries = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                audio = Path(entry["audio"])
                entry["audio"] = str(audio if audio.is_absolute() else path.parent / audio)
                entry["text"], entry["duration"] = str(entry["text"]), float(
                    entry["duration"]
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: bad manifest line ({error})") from None
            entries.append(entry)
    return entries


def write_manifest(path: str | Path, entries: list[dict], relative_to_manifest=True):
    """Write entries as JSONL (atomically), audio paths relative to the manifest's
    folder when ``relative_to_manifest``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            entry = dict(entry)
            if relative_to_manifest:
                entry["audio"] = _relative(Path(entry["audio"]), path.parent)
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _relative(audio: Path, folder: Path) -> str:
    try:
        return str(audio.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(audio.resolve())


class AudioDataset(Dataset):
    """Manifest entries as (waveform, label ids). An entry whose audio fails to load
    is returned as None (and logged) so the collate function can drop it."""

    def __init__(self, entries: list[dict], tokenizer: CharTokenizer, transform=None):
        self.entries = entries
        self.tokenizer = tokenizer
        self.transform = transform  # waveform -> waveform, e.g. augmentation

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int):
        entry = self.entries[index]
        try:
            wave = load_audio(entry["audio"])
        except AudioError as error:
            log.warning("skipping %s", error)
            return None
        if self.transform is not None:
            wave = self.transform(wave)
        return torch.from_numpy(np.ascontiguousarray(wave)), torch.tensor(
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


def collate(items: list) -> Batch | None:
    """Pad waveforms and targets of a list of dataset items into a Batch."""
    good = [item for item in items if item is not None]
    if not good:
        return None
    waves, targets = zip(*good)
    return Batch(
        torch.nn.utils.rnn.pad_sequence(waves, batch_first=True),
        torch.tensor([len(w) for w in waves]),
        torch.nn.utils.rnn.pad_sequence(targets, batch_first=True),
        torch.tensor([len(t) for t in targets]),
        skipped=len(items) - len(good),
    )


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar duration: entries sorted by length are cut into batches of
    at most ``batch_size`` items and ``max_batch_seconds`` of audio, and the batch
    order is shuffled each epoch (reproducibly from ``seed`` and the epoch)."""

    def __init__(
        self,
        durations: list[float],
        batch_size: int,
        max_batch_seconds: float,
        shuffle: bool = True,
        seed: int = 0,
    ):
        self.batches = self._make_batches(durations, batch_size, max_batch_seconds)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = list(range(len(self.batches)))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        return iter([self.batches[i] for i in order])

    def __len__(self) -> int:
        return len(self.batches)
