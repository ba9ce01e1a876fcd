"""Training: ``TrainConfig``, the ``train(cfg)`` loop and the ``asr train`` command.

Each epoch runs length-bucketed batches (optionally augmented, see ``augment.py``)
through frontend -> encoder -> CTC loss with AdamW, linear warm-up then cosine decay,
gradient accumulation, clipping and optional bf16/fp16 autocast; a batch whose loss is
NaN or infinite is skipped and counted. Then rank 0 decodes the dev manifest greedily
and writes, beside metrics.csv and curves.png (``report.py``):

    last.pt      everything needed to resume exactly: weights, optimizer, scheduler,
                 loss scaler, random states and the position in the epoch; also
                 written every ``save_every_steps`` optimizer steps
    best.pt      the weights with the lowest dev WER so far, ready to ship
    epoch-N.pt   the weights after epoch N (the last ``keep_last``), and
    averaged.pt  their average (``average_last``)

Run under ``torchrun`` it trains data-parallel (``distributed.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..audio.features import Frontend, FrontendConfig
from ..audio.io import SAMPLE_RATE
from ..core.config import add_config_flags, config_values
from ..core.cpu import set_threads
from ..core.files import check_writable
from ..core.text import BLANK, CharTokenizer
from ..data.dataset import AudioDataset, train_loader
from ..data.manifest import read_manifest
from ..inference.evaluate import dev_scores
from ..inference.recognizer import ASRModel
from ..model.checkpoint import CheckpointError
from ..model.encoder import Encoder, ModelConfig
from ..training import distributed
from .augment import AugmentConfig, SpecAugment, WaveAugment
from .checkpoint import remove_stale_temporaries
from .progress import Progress, RunCheckpoints
from .report import log_dev_curve, log_metrics

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    train_manifest: str = ""  # JSONL manifest of training utterances
    dev_manifest: str = ""  # JSONL manifest decoded each epoch (never a test set)
    out_dir: str = "exp/run"  # checkpoints, metrics.csv and curves.png go here
    epochs: int = 30  # passes over the training manifest
    batch_size: int = 32  # utterances per batch at most
    max_batch_seconds: float = 200.0  # padded audio seconds per batch at most
    lr: float = 2e-3  # peak learning rate of AdamW
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_steps: int = 300  # linear warm-up optimizer steps, then cosine decay to 0
    grad_clip: float = 5.0  # max global gradient norm
    accum_steps: int = 1  # batches whose gradients add up to one optimizer step
    precision: str = "fp32"  # "fp32"; "bf16" autocast (CUDA, or CPU); "fp16" autocast
    #                          with loss scaling (CUDA only)
    seed: int = 0  # seeds weights, batch order, augmentation and dropout
    num_workers: int = 1  # DataLoader processes reading (and augmenting) audio
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...; under torchrun each rank
    #                      takes cuda:LOCAL_RANK
    threads: int = 0  # torch CPU threads per process (per rank under torchrun);
    #                   0: $ASR_THREADS, else 1 (asr/cpu.py)
    resume: bool = False  # continue from out_dir/last.pt when it exists
    init_from: str = ""  # start from this checkpoint's weights (same features and
    #                      model shape, or fewer hidden units, then widened; a fresh
    #                      optimizer); ignored when resuming
    save_every_steps: int = 200  # also write last.pt every N optimizer steps (0: only
    #                              at epoch ends)
    dev_every_steps: int = 0  # also score the dev set every N optimizer steps (rows in
    #                           dev_curve.csv; best.pt follows them); 0: at epoch ends
    keep_last: int = 0  # keep the weights after each of the last N epochs (epoch-N.pt)
    average_last: int = 0  # at the end, write averaged.pt: the mean of the last N
    #                        epochs' weights (0: off)
    max_failed_fraction: float = 0.05  # abort when more than this share of an
    #                                    epoch's entries fail to load
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # augmentation
    model: ModelConfig = field(default_factory=ModelConfig)  # network shape
    frontend: FrontendConfig = field(default_factory=FrontendConfig)  # features


class DataError(ValueError):
    """Too many training entries failed to load."""


def train(cfg: TrainConfig) -> dict:
    """Train a model as ``cfg`` says; returns the final ``Progress`` as a dict."""
    info, device = distributed.init_distributed(cfg.device)
    try:
        return asdict(Trainer(cfg, info, device).fit())
    finally:
        distributed.cleanup()


class Trainer:
    """The parts of one training run, built from a config, and the loop over them."""

    def __init__(self, cfg: TrainConfig, info: distributed.DistInfo, device):
        _check_config(cfg, device)
        set_threads(cfg.threads)
        self.cfg, self.info, self.device = cfg, info, device
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.out_dir = Path(cfg.out_dir)
        if info.is_main:
            check_writable(self.out_dir)
            remove_stale_temporaries(self.out_dir)
        self.frontend = Frontend(cfg.frontend).to(device)
        self.spec_augment = SpecAugment(cfg.augment)
        model_cfg = dataclasses.replace(
            cfg.model,
            n_features=cfg.frontend.n_features,
            vocab_size=len(CharTokenizer()),
        )
        self.encoder = Encoder(model_cfg).to(device)
        self.entries = read_manifest(cfg.train_manifest, training=True)
        self.dev_entries = read_manifest(cfg.dev_manifest) if cfg.dev_manifest else []
        augment = WaveAugment(cfg.augment) if cfg.augment.waveform_enabled else None
        self.loader = train_loader(
            AudioDataset(self.entries, CharTokenizer(), augment, seed=cfg.seed),
            cfg.batch_size, cfg.max_batch_seconds, min(cfg.augment.speed_factors),
            seed=cfg.seed, num_workers=cfg.num_workers, rank=info.rank,
            world_size=info.world_size, pin_memory=device.type == "cuda",
        )  # fmt: skip
        self.optimizer = torch.optim.AdamW(
            self.encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        total = cfg.epochs * math.ceil(len(self.loader.batch_sampler) / cfg.accum_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: _lr_factor(step, cfg.warmup_steps, total)
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
        self.ctc_loss = torch.nn.CTCLoss(
            blank=BLANK, reduction="sum", zero_infinity=True
        )
        self.progress = Progress(world_size=info.world_size)
        self.checkpoints = RunCheckpoints(
            cfg, info, self.encoder, CharTokenizer().vocab,
            self.optimizer, self.scheduler, self.scaler,
        )  # fmt: skip
        if cfg.resume and (self.out_dir / "last.pt").exists():
            self.progress = self.checkpoints.resume(self.out_dir / "last.pt")
        elif cfg.init_from:
            self.checkpoints.init_from(cfg.init_from)
        self.model = self.encoder
        if info.enabled:  # no collective in forward (see distributed.average_buffers)
            self.model = DistributedDataParallel(self.encoder, broadcast_buffers=False)
        if info.is_main:
            log.info("model: %s, %.2f M parameters", model_cfg,
                     self.encoder.num_parameters() / 1e6)  # fmt: skip

    def fit(self) -> Progress:
        """Train the remaining epochs; rank 0 validates and saves after each."""
        cfg, progress = self.cfg, self.progress
        for epoch in range(progress.epoch, cfg.epochs):
            self.loader.batch_sampler.set_epoch(epoch, progress.batch)
            self.loader.dataset.set_epoch(epoch)
            started = time.time()
            throughput, data_wait = self._train_epoch(epoch)
            distributed.average_buffers(self.encoder)
            totals = progress.summed(self.device)
            row = {
                "epoch": epoch + 1, "step": progress.step,
                "lr": self.scheduler.get_last_lr()[0],
                "train_loss": totals[0] / max(totals[1], 1),
                **(self._validate() if self.info.is_main else {}),
                "audio_sec_per_sec": throughput, "data_wait_frac": data_wait,
                "skipped_nonfinite": progress.skipped_nonfinite,
                "failed_entries": progress.failed_entries,
                "seconds": time.time() - started,
            }  # fmt: skip
            improved = progress.record_dev(row.get("dev_wer", -epoch), epoch + 1)
            progress.epoch = epoch + 1
            progress.start_epoch()
            self.checkpoints.save(progress, self.device, row, improved)
            if self.info.is_main:
                log_metrics(self.out_dir, row)
                tqdm.write(_format_row(row))
        if self.info.is_main and cfg.average_last:
            self.checkpoints.write_average()
        distributed.barrier()
        return progress

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over this rank's batches (from ``progress.batch`` on).

        Returns:
            Audio seconds trained per wall second (all ranks together) and the
            share of that time spent waiting for the DataLoader.
        """
        cfg, progress, world = self.cfg, self.progress, self.info.world_size
        self.model.train()
        self.spec_augment.train()
        n_batches = len(self.loader.batch_sampler)
        bar = tqdm(total=n_batches, initial=progress.batch, unit="batch", leave=False,
                   desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not self.info.is_main)  # fmt: skip
        batches, pending = iter(self.loader), 0  # pending: batches since the last step
        started, waited, audio = time.perf_counter(), 0.0, 0.0
        while True:
            wait_start = time.perf_counter()
            batch = next(batches, None)
            waited += time.perf_counter() - wait_start
            if batch is None:
                break
            progress.batch += 1
            loss = self._loss(batch) if len(batch) else None
            finite = loss is not None and bool(torch.isfinite(loss))
            ok, failed, nonfinite = distributed.all_sum(
                [float(finite), batch.skipped, float(loss is not None and not finite)],
                self.device,
            )
            progress.failed_entries += int(failed)
            progress.skipped_nonfinite += int(nonfinite)
            self._check_failures()
            bar.update()
            if ok < world:  # every rank skips it, or DDP's gradient all-reduce hangs
                if nonfinite and self.info.is_main:
                    log.warning("step %d: NaN/inf loss, batch skipped", progress.step)
                continue
            self.scaler.scale(loss / cfg.accum_steps).backward()
            pending += 1
            seconds = float(batch.wave_lens.sum()) / SAMPLE_RATE
            progress.loss_sum += loss.item() * len(batch)
            progress.utterances += len(batch)
            progress.audio_seconds += seconds
            audio += seconds * world
            if pending == cfg.accum_steps or progress.batch == n_batches:
                self._optimizer_step()
                pending = 0
                if cfg.dev_every_steps and progress.step % cfg.dev_every_steps == 0:
                    self._mid_epoch_dev(epoch + progress.batch / n_batches)
                elif cfg.save_every_steps and progress.step % cfg.save_every_steps == 0:
                    self.checkpoints.save(progress, self.device, None)
            elapsed = time.perf_counter() - started
            bar.set_postfix(
                loss=f"{loss.item():.3f}", audio_s_per_s=f"{audio / elapsed:.1f}"
            )
        if pending:  # the epoch's last batches were skipped: step on what was summed
            self._optimizer_step()
        bar.close()
        elapsed = time.perf_counter() - started
        return audio / elapsed, waited / elapsed

    def _loss(self, batch) -> torch.Tensor:
        """Mean CTC loss per utterance of one batch (a 0-d tensor)."""
        batch = batch.to(self.device)
        feats, feat_lens = self.frontend(batch.waves, batch.wave_lens)
        feats = self.spec_augment(feats)
        autocast = torch.autocast(
            self.device.type,
            dtype=PRECISIONS[self.cfg.precision],
            enabled=self.cfg.precision != "fp32",
        )
        with autocast:
            log_probs, out_lens = self.model(feats, feat_lens)
        # (B, T, V) -> (T, B, V) as CTCLoss wants; the loss in float32 under autocast
        loss = self.ctc_loss(
            log_probs.float().transpose(0, 1),
            batch.targets,
            out_lens,
            batch.target_lens,
        )
        return loss / len(batch)

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.encoder.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.step += 1

    def _check_failures(self) -> None:
        limit = self.cfg.max_failed_fraction * len(self.entries)
        if self.progress.failed_entries > limit:
            raise DataError(
                f"{self.progress.failed_entries} of {len(self.entries)} training "
                f"entries failed to load, more than --max-failed-fraction "
                f"{self.cfg.max_failed_fraction} (see the warnings above)"
            )

    def _validate(self) -> dict:
        """Dev loss, WER and CER (rank 0 only, on the unwrapped encoder)."""
        if not self.dev_entries:
            return {}
        model = ASRModel(self.frontend, self.encoder, CharTokenizer())
        model.device = self.device
        with torch.no_grad():
            return dev_scores(model, self.dev_entries)

    def _mid_epoch_dev(self, epoch: float) -> None:
        """Score the dev set within an epoch (``dev_every_steps``): a row in
        dev_curve.csv, best.pt when it improved, and last.pt in every case."""
        progress, improved = self.progress, False
        if self.info.is_main and self.dev_entries:
            row = {"epoch": round(epoch, 4), "step": progress.step,
                   "lr": self.scheduler.get_last_lr()[0],
                   **self._validate()}  # fmt: skip
            improved = progress.record_dev(row["dev_wer"], math.ceil(epoch))
            log_dev_curve(self.out_dir, row)
            tqdm.write(_format_row(row))
            self.model.train()
        self.checkpoints.save(progress, self.device, None, improved)


def _format_row(row: dict) -> str:
    return " ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
    )


def _check_config(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {sorted(PRECISIONS)}")
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ValueError("--precision fp16 needs a CUDA device (bf16 runs on CPU)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {cfg.device}: CUDA is not available here")
    if cfg.threads < 0:
        raise ValueError(
            "--threads must be 1 or more (0: the default, asr/core/cpu.py)"
        )
    if cfg.accum_steps < 1:
        raise ValueError("--accum-steps must be at least 1")
    if not 0.0 <= cfg.max_failed_fraction <= 1.0:
        raise ValueError("--max-failed-fraction must be within [0, 1]")
    cfg.augment.validate()


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


DERIVED_FIELDS = {"model", "frontend", "augment", "n_features", "vocab_size"}


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr train", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Train a BiRNN-CTC model on JSONL manifests. Flags mirror TrainConfig, "
        "ModelConfig, FrontendConfig and AugmentConfig (see their field comments "
        "in asr/). Under torchrun it trains data-parallel on every rank."
    )
    groups = {"training": TrainConfig, "augmentation": AugmentConfig,
              "model": ModelConfig, "features": FrontendConfig}  # fmt: skip
    for title, cls in groups.items():
        add_config_flags(parser.add_argument_group(title), cls, skip=DERIVED_FIELDS)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    training = config_values(args, TrainConfig)
    return TrainConfig(
        **{k: v for k, v in training.items() if k not in DERIVED_FIELDS},
        model=ModelConfig(**config_values(args, ModelConfig)),
        frontend=FrontendConfig(**config_values(args, FrontendConfig)),
        augment=AugmentConfig(**config_values(args, AugmentConfig)),
    )


def run(args: argparse.Namespace) -> int:
    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 logs progress
    logging.basicConfig(level=logging.INFO if main_rank else logging.WARNING,
                        format="%(message)s")  # fmt: skip
    cfg = config_from_args(args)
    if not cfg.train_manifest:
        print("error: --train-manifest is required", file=sys.stderr)
        return 2
    try:
        train(cfg)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
