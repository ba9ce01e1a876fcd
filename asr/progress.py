"""Where a training run stands, and what last.pt holds beyond the weights so that a
resumed run continues exactly: the position in the epoch, the epoch's running sums
and every rank's random states (``checkpoint.rng_state``).

Kept apart from ``TrainConfig``: the config says what to do, ``Progress`` how far
it got.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass

from . import distributed
from .checkpoint import rng_state, set_rng_state

log = logging.getLogger(__name__)

SUMMED = ("loss_sum", "utterances", "audio_seconds")  # per rank until summed


@dataclass
class Progress:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    batch: int = 0  # batches of the current epoch consumed, per rank
    best_wer: float = math.inf  # lowest dev WER so far
    best_epoch: int = -1  # the epoch that reached it
    loss_sum: float = 0.0  # current epoch: summed CTC loss of trained utterances
    utterances: int = 0  # current epoch: utterances trained on
    audio_seconds: float = 0.0  # current epoch: seconds of audio trained on
    skipped_nonfinite: int = 0  # current epoch: batches skipped for a NaN/inf loss
    failed_entries: int = 0  # current epoch: entries whose audio failed to load
    world_size: int = 1  # ranks of the run

    def start_epoch(self) -> None:
        self.batch, self.loss_sum, self.utterances, self.audio_seconds = 0, 0.0, 0, 0.0
        self.skipped_nonfinite = self.failed_entries = 0

    def summed(self, device) -> list[float]:
        """The running sums of ``SUMMED`` over all ranks (a collective call)."""
        return distributed.all_sum([getattr(self, k) for k in SUMMED], device)


def snapshot(progress: Progress, device) -> dict:
    """``progress`` with the sums of all ranks, plus ``rng``: every rank's random
    states. A collective call: every rank makes it, rank 0 saves the result."""
    rngs = distributed.gather(rng_state())
    totals = progress.summed(device)
    state = {**asdict(progress), **dict(zip(SUMMED, totals, strict=True)), "rng": rngs}
    state["utterances"] = int(state["utterances"])
    return state


def restore(state: dict, info: distributed.DistInfo) -> Progress:
    """The ``Progress`` saved in ``state`` for this rank, with its random states
    restored. Resumed on another number of ranks, the epoch restarts (its batches
    are sharded differently)."""
    names = [f.name for f in dataclasses.fields(Progress)]
    progress = Progress(**{k: state[k] for k in names if k in state})
    rngs = state.get("rng") or []
    if progress.world_size != info.world_size and progress.batch:
        log.warning(
            "resumed on %d ranks instead of %d: epoch %d restarts",
            info.world_size, progress.world_size, progress.epoch + 1,
        )  # fmt: skip
        progress.start_epoch()
    elif info.rank < len(rngs):
        set_rng_state(rngs[info.rank])
    if info.rank:  # rank 0 carries the sums of all ranks so far
        progress.loss_sum, progress.utterances, progress.audio_seconds = 0.0, 0, 0.0
    progress.world_size = info.world_size
    return progress
