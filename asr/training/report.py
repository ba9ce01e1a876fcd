"""What a training run reports beside its checkpoints: one ``metrics.csv`` row per
epoch and ``curves.png``, the train/dev loss and dev WER/CER per epoch."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def log_metrics(out_dir: Path, row: dict) -> None:
    """Append ``row`` to out_dir/metrics.csv (header first) and redraw curves.png."""
    append_row(out_dir / "metrics.csv", row)
    plot_curves(out_dir / "metrics.csv", out_dir / "curves.png")


def log_dev_curve(out_dir: Path, row: dict) -> None:
    """Append a mid-epoch dev score to out_dir/dev_curve.csv (header first)."""
    append_row(out_dir / "dev_curve.csv", row)
    plot_curves(out_dir / "metrics.csv", out_dir / "curves.png")


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` to the CSV file at ``path``, writing the header first."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def reconcile_metrics(out_dir: Path, epochs_done: int, last_row: dict | None) -> None:
    """Make metrics.csv agree with a resumed checkpoint: drop rows of epochs after
    ``epochs_done`` (written before a crash, to be redone) and add the checkpoint's
    own row for epoch ``epochs_done`` if the crash came before it was logged."""
    path = out_dir / "metrics.csv"
    rows = [r for r in read_metrics(path) if int(r["epoch"]) <= epochs_done]
    if (
        last_row
        and int(last_row["epoch"]) == epochs_done
        and (not rows or int(rows[-1]["epoch"]) < epochs_done)
    ):
        rows.append(last_row)
    if not rows:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[-1]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def plot_curves(metrics_csv: Path, png: Path) -> None:
    """Loss and error rates per epoch (metrics.csv), with the dev scores taken within
    epochs (dev_curve.csv beside it, ``--dev-every-steps``) drawn as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_csv)
    within = read_metrics(metrics_csv.parent / "dev_curve.csv")
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_loss, ax_wer) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "dev_loss"):
        if rows and rows[0].get(key):
            ax_loss.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key)
    if within:
        ax_loss.plot([float(r["epoch"]) for r in within],
                     [float(r["dev_loss"]) for r in within], marker=".",
                     label="dev_loss (steps)")  # fmt: skip
    ax_loss.set(xlabel="epoch", ylabel="CTC loss per utterance", yscale="log")
    ax_loss.legend()
    for key in ("dev_wer", "dev_cer"):
        if rows and rows[0].get(key):
            ax_wer.plot(
                epochs, [100 * float(r[key]) for r in rows], marker="o", label=key
            )
        if within:
            ax_wer.plot([float(r["epoch"]) for r in within],
                        [100 * float(r[key]) for r in within], marker=".",
                        label=f"{key} (steps)")  # fmt: skip
    if ax_wer.lines:
        ax_wer.set(xlabel="epoch", ylabel="error rate (%)")
        ax_wer.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
