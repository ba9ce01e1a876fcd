"""Where a training run stands, and what last.pt holds beyond the weights so that a
resumed run continues exactly: the position in the epoch, the epoch's running sums
and every rank's random states (``checkpoint.rng_state``); ``RunCheckpoints``
writes that and the run's other checkpoint files, and resumes from last.pt.

Kept apart from ``TrainConfig``: the config says what to do, ``Progress`` how far
it got.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..model.checkpoint import (
    CheckpointError,
    average_checkpoints,
    configs_from_state,
    load_checkpoint,
    model_state,
)
from ..model.encoder import can_widen, widen_state
from ..training import distributed
from .checkpoint import (
    epoch_snapshots,
    plain_data,
    portable_paths,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .report import reconcile_metrics

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

    def record_dev(self, wer: float, epoch: int) -> bool:
        """Keep ``wer`` as the best so far, reached in ``epoch``, if it is lower
        than the best; returns whether it was."""
        if wer >= self.best_wer:
            return False
        self.best_wer, self.best_epoch = wer, epoch
        return True

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


class RunCheckpoints:
    """The checkpoint files of one training run in ``cfg.out_dir`` (rank 0 writes):
    last.pt with all that a resume needs, best.pt and epoch-N.pt with the weights and
    metadata, averaged.pt with the mean weights of the last epochs.

    Args:
        cfg: the run's ``TrainConfig``.
        info: this rank's place in the run.
        encoder: the (unwrapped) ``Encoder`` being trained.
        vocab: the tokenizer's symbols, saved beside the weights.
        optimizer, scheduler, scaler: saved to and restored from last.pt.
    """

    def __init__(self, cfg, info, encoder, vocab, optimizer, scheduler, scaler):
        self.cfg, self.info, self.out_dir = cfg, info, Path(cfg.out_dir)
        self.encoder, self.vocab = encoder, list(vocab)
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler
        self.last_row: dict | None = None  # metrics of the last finished epoch

    def init_from(self, path: str) -> None:
        """Copy a checkpoint's weights into the encoder (``--init-from``); a model
        with fewer hidden units is widened (``model.widen_state``), and one with
        other time strides (the same conv layers) keeps its weights at the new
        frame rate, to be fine-tuned there.

        Raises:
            CheckpointError: an unreadable checkpoint, or one of another shape.
        """
        state, encoder = load_checkpoint(path), self.encoder
        theirs, frontend_config = configs_from_state(state)
        ours = encoder.config
        if frontend_config != self.cfg.frontend or not can_widen(theirs, ours):
            raise CheckpointError(
                f"{path}: --init-from needs the same model (or the same with fewer "
                f"hidden units or other time strides) and features as this run (it "
                f"has {theirs} "
                f"with {frontend_config})"
            )
        if theirs.hidden_size == ours.hidden_size:  # the same weights (strides aside)
            encoder.load_state_dict(state["model"])
        else:  # a narrower model: its function, plus new units that start silent
            encoder.load_state_dict(widen_state(state["model"], theirs, encoder))
        log.info("initialised from %s (%d -> %d units, time strides %s -> %s)",
                 path, theirs.hidden_size, ours.hidden_size,
                 tuple(theirs.time_strides), tuple(ours.time_strides))  # fmt: skip

    def save(
        self, progress: Progress, device, row: dict | None, improved: bool = False
    ) -> None:
        """Write last.pt (every rank takes part; rank 0 writes); at an epoch end
        (``row`` given) also best.pt when ``improved`` and the epoch snapshot."""
        state = snapshot(progress, device)
        if not self.info.is_main:
            return
        self.last_row = row or self.last_row
        weights = model_state(self.encoder, self.cfg.frontend, self.vocab)
        meta = {"train_config": portable_paths(plain_data(asdict(self.cfg))),
                "metrics": plain_data(self.last_row),
                **{k: v for k, v in state.items() if k != "rng"}}  # fmt: skip
        if improved:
            save_checkpoint(self.out_dir / "best.pt", {**weights, **meta})
        keep = max(self.cfg.keep_last, self.cfg.average_last)
        if row is not None and keep:
            save_checkpoint(
                self.out_dir / f"epoch-{row['epoch']}.pt", {**weights, **meta}
            )
            for old in epoch_snapshots(self.out_dir)[:-keep]:
                old.unlink()
        save_checkpoint(
            self.out_dir / "last.pt",
            {**weights, **meta, "optimizer": self.optimizer.state_dict(),
             "scheduler": self.scheduler.state_dict(),
             "scaler": self.scaler.state_dict(), "rng": state["rng"]},
        )  # fmt: skip

    def resume(self, path: Path) -> Progress:
        """Load ``path`` (a last.pt) into the encoder, optimizer, scheduler and
        scaler; returns this rank's ``Progress`` (see ``restore``)."""
        state = load_checkpoint(path)
        model_cfg, _ = configs_from_state(state)
        if model_cfg != self.encoder.config:
            raise CheckpointError(f"{path}: model config differs from this run's")
        self.encoder.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        progress, self.last_row = restore(state, self.info), state.get("metrics")
        if self.info.is_main:
            reconcile_metrics(self.out_dir, progress.epoch, self.last_row)
            log.info("resumed from epoch %d, batch %d, step %d",
                     progress.epoch + 1, progress.batch, progress.step)  # fmt: skip
        return progress

    def write_average(self) -> None:
        """averaged.pt: the mean weights of the last ``cfg.average_last`` epochs."""
        snapshots = epoch_snapshots(self.out_dir)[-self.cfg.average_last :]
        save_checkpoint(self.out_dir / "averaged.pt", average_checkpoints(snapshots))
        log.info(
            "averaged.pt: mean weights of %s", ", ".join(p.name for p in snapshots)
        )
