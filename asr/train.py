"""Training: ``TrainConfig``, the ``train(cfg)`` loop and the ``asr train`` command.

Each epoch runs length-bucketed batches through frontend -> encoder -> CTC loss with
AdamW, linear warm-up then cosine decay, and gradient clipping; then it decodes the
dev manifest greedily and writes, beside a metrics CSV and a plot:

    last.pt   everything needed to resume (weights, optimizer, scheduler, step)
    best.pt   the weights with the lowest dev WER so far, ready to ship
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .audio import Frontend, FrontendConfig
from .checkpoint import (
    CheckpointError,
    configs_from_state,
    load_checkpoint,
    model_state,
    save_checkpoint,
)
from .data import AudioDataset, BucketBatchSampler, collate, read_manifest
from .evaluate import evaluate
from .model import Encoder, ModelConfig
from .text import BLANK, CharTokenizer
from .transcribe import ASRModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    train_manifest: str = ""  # JSONL manifest of training utterances
    dev_manifest: str = ""  # JSONL manifest decoded after every epoch (never a test set)
    out_dir: str = "exp/run"  # checkpoints, metrics.csv and curves.png go here
    epochs: int = 30  # passes over the training manifest
    batch_size: int = 32  # utterances per batch at most
    max_batch_seconds: float = 200.0  # padded audio seconds per batch at most
    lr: float = 2e-3  # peak learning rate of AdamW
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_steps: int = 300  # linear warm-up steps, then cosine decay to 0
    grad_clip: float = 5.0  # max global gradient norm
    seed: int = 0  # seeds weights, batch order and dropout
    num_workers: int = 1  # DataLoader processes reading audio
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...
    resume: bool = False  # continue from out_dir/last.pt when it exists
    model: ModelConfig = field(default_factory=ModelConfig)  # network shape
    frontend: FrontendConfig = field(default_factory=FrontendConfig)  # features


def train(cfg: TrainConfig) -> dict:
    """Train a model as ``cfg`` says; returns the best dev scores seen."""
    torch.manual_seed(cfg.seed)
    out_dir = Path(cfg.out_dir)
    _check_writable(out_dir)
    device = torch.device(cfg.device)
    tokenizer = CharTokenizer()
    frontend = Frontend(cfg.frontend).to(device)
    model_cfg = dataclasses.replace(
        cfg.model, n_features=cfg.frontend.n_features, vocab_size=len(tokenizer)
    )
    encoder = Encoder(model_cfg).to(device)
    train_entries = read_manifest(cfg.train_manifest)
    dev_entries = read_manifest(cfg.dev_manifest) if cfg.dev_manifest else []
    sampler = BucketBatchSampler(
        [e["duration"] for e in train_entries],
        cfg.batch_size,
        cfg.max_batch_seconds,
        seed=cfg.seed,
    )
    loader = DataLoader(
        AudioDataset(train_entries, tokenizer),
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
    )
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    total_steps = cfg.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, cfg.warmup_steps, total_steps)
    )
    progress = {"epoch": 0, "step": 0, "best_wer": math.inf, "best_epoch": -1}
    if cfg.resume and (out_dir / "last.pt").exists():
        progress = _resume(out_dir / "last.pt", encoder, optimizer, scheduler)
        log.info("resumed from epoch %d, step %d", progress["epoch"], progress["step"])
    log.info("model: %s, %.2f M parameters", model_cfg, encoder.num_parameters() / 1e6)
    ctc_loss = torch.nn.CTCLoss(blank=BLANK, reduction="sum", zero_infinity=True)

    for epoch in range(progress["epoch"], cfg.epochs):
        sampler.set_epoch(epoch)
        started = time.time()
        train_loss, step = _train_epoch(
            cfg, epoch, loader, frontend, encoder, ctc_loss, optimizer, scheduler,
            progress["step"],
        )  # fmt: skip
        progress["step"] = step
        scores = _validate(frontend, encoder, tokenizer, dev_entries, ctc_loss, device)
        progress["epoch"] = epoch + 1
        row = {
            "epoch": epoch + 1,
            "step": step,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": train_loss,
            **scores,
            "seconds": time.time() - started,
        }
        improved = scores.get("dev_wer", -epoch) < progress["best_wer"]
        if improved:
            progress["best_wer"] = scores.get("dev_wer", -epoch)
            progress["best_epoch"] = epoch + 1
        _save(out_dir, cfg, encoder, optimizer, scheduler, progress, row, improved)
        _log_metrics(out_dir, row)
        tqdm.write(
            " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items())
        )  # fmt: skip
    return progress


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _train_epoch(
    cfg, epoch, loader, frontend, encoder, ctc_loss, optimizer, scheduler, step
) -> tuple[float, int]:
    encoder.train()
    total_loss, total_items = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
    for batch in bar:
        if batch is None:
            continue
        batch = batch.to(frontend.mfcc.dct_mat.device)
        feats, feat_lens = frontend(batch.waves, batch.wave_lens)
        log_probs, out_lens = encoder(feats, feat_lens)
        loss = ctc_loss(
            log_probs.transpose(0, 1),  # (B, T, V) -> (T, B, V) as CTCLoss wants
            batch.targets,
            out_lens,
            batch.target_lens,
        ) / len(batch.wave_lens)
        if not torch.isfinite(loss):
            log.warning("step %d: non-finite loss, batch skipped", step)
            optimizer.zero_grad(set_to_none=True)
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        total_loss += loss.item() * len(batch.wave_lens)
        total_items += len(batch.wave_lens)
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    return total_loss / max(total_items, 1), step


@torch.no_grad()
def _validate(frontend, encoder, tokenizer, entries, ctc_loss, device) -> dict:
    if not entries:
        return {}
    model = ASRModel(frontend, encoder, tokenizer)
    model.device = device
    report = evaluate(model, entries, progress=False)
    loss_sum, count = 0.0, 0
    dataset = AudioDataset(entries, tokenizer)
    for start in range(0, len(entries), 32):
        batch = collate([dataset[i] for i in range(start, min(start + 32, len(entries)))])
        if batch is None:
            continue
        batch = batch.to(device)
        log_probs, out_lens = encoder(*frontend(batch.waves, batch.wave_lens))
        loss_sum += ctc_loss(
            log_probs.transpose(0, 1), batch.targets, out_lens, batch.target_lens
        ).item()
        count += len(batch.wave_lens)
    return {"dev_loss": loss_sum / max(count, 1), "dev_wer": report["wer"],
            "dev_cer": report["cer"]}  # fmt: skip


def _save(out_dir, cfg, encoder, optimizer, scheduler, progress, row, improved):
    weights = model_state(encoder, cfg.frontend, CharTokenizer().vocab)
    meta = {"train_config": _plain(asdict(cfg)), "metrics": _plain(row), **progress}
    if improved:
        save_checkpoint(out_dir / "best.pt", {**weights, **meta})
    save_checkpoint(
        out_dir / "last.pt",
        {**weights, **meta, "optimizer": optimizer.state_dict(),
         "scheduler": scheduler.state_dict()},
    )  # fmt: skip


def _plain(value):
    """Config and metric values as plain data that ``weights_only`` loading accepts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _resume(path, encoder, optimizer, scheduler) -> dict:
    state = load_checkpoint(path)
    model_cfg, _ = configs_from_state(state)
    if model_cfg != encoder.config:
        raise CheckpointError(f"{path}: model config differs from this run's")
    encoder.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return {k: state[k] for k in ("epoch", "step", "best_wer", "best_epoch")}


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"0" * 4096)
        probe.unlink()
    except OSError as error:
        raise OSError(f"{out_dir}: output directory is not writable ({error})") from None


def _log_metrics(out_dir: Path, row: dict) -> None:
    path = out_dir / "metrics.csv"
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    _plot_curves(path, out_dir / "curves.png")


def _plot_curves(metrics_csv: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_loss, ax_wer) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "dev_loss"):
        if key in rows[0]:
            ax_loss.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key)
    ax_loss.set(xlabel="epoch", ylabel="CTC loss per utterance", yscale="log")
    ax_loss.legend()
    if "dev_wer" in rows[0]:
        for key in ("dev_wer", "dev_cer"):
            ax_wer.plot(epochs, [100 * float(r[key]) for r in rows], marker="o", label=key)
        ax_wer.set(xlabel="epoch", ylabel="error rate (%)")
        ax_wer.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


DERIVED_FIELDS = {"model", "frontend", "n_features", "vocab_size"}  # not flags


def _add_config_flags(parser, cls, prefix: str = "") -> None:
    """One --kebab-case flag per field of a config dataclass, default from the class."""
    for f in dataclasses.fields(cls):
        if f.name in DERIVED_FIELDS:
            continue
        default = getattr(cls(), f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=list(default))
        else:
            parser.add_argument(flag, type=type(default), default=default)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr train", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Train a BiRNN-CTC model on JSONL manifests. Flags mirror TrainConfig, "
        "ModelConfig and FrontendConfig (see their field comments in asr/)."
    )
    _add_config_flags(parser.add_argument_group("training"), TrainConfig)
    model_group = parser.add_argument_group("model")
    _add_config_flags(model_group, ModelConfig)
    _add_config_flags(parser.add_argument_group("features"), FrontendConfig)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = vars(args)

    def pick(cls):
        return {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}

    model = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in pick(ModelConfig).items()})  # fmt: skip
    return TrainConfig(
        **{k: v for k, v in pick(TrainConfig).items() if k not in ("model", "frontend")},
        model=model,
        frontend=FrontendConfig(**pick(FrontendConfig)),
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
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
