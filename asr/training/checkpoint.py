"""Writing training state: checkpoints saved atomically, the random-number state
as plain data, stale temporaries removed after a crash, and ``asr average``.

Reading a checkpoint (``load_checkpoint``, ``configs_from_state``) is the model's
business: asr/model/checkpoint.py."""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model.checkpoint import FORMAT_VERSION, CheckpointError, average_checkpoints


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder
    is written, flushed to disk and renamed over ``path``, so a crash at any moment
    leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format_version": FORMAT_VERSION, **state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def portable_paths(value, root: Path | None = None):
    """Config values with absolute paths under ``root`` (the working directory)
    written relative to it, so a checkpoint that is shared records where its data
    lay in the project (``data/fsdd/train.jsonl``), not on the machine that made it."""
    if isinstance(value, dict):
        return {k: portable_paths(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_paths(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        root = Path.cwd() if root is None else root
        try:
            return Path(value).relative_to(root).as_posix()
        except ValueError:
            return value
    return value


def plain_data(value):
    """Config and metric values as plain data that ``weights_only`` loading accepts
    (non-finite floats and other objects become strings)."""
    if isinstance(value, dict):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return (
        value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
    )


def epoch_snapshots(out_dir: Path) -> list[Path]:
    """The epoch-N.pt files of a training run, oldest first."""
    return sorted(out_dir.glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1]))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that a process killed inside ``save_checkpoint``
    left behind (never a finished checkpoint); returns what was removed."""
    stale = sorted(Path(folder).glob(".*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def rng_state() -> dict:
    """The torch, CUDA, Python and NumPy random states as tensors and plain data,
    so that a checkpoint holding them still loads with ``weights_only=True``."""
    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": {"version": version, "mt": torch.tensor(mt), "gauss": gauss},
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }  # fmt: skip


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py["version"], tuple(py["mt"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        ("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"],
         npy["has_gauss"], npy["cached"])
    )  # fmt: skip


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr average", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Average the weights of checkpoints of one model, e.g. "
        "asr average exp/run/epoch-*.pt --output exp/run/averaged.pt"
    )
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files to average")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True,
                        help="where to write the average")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        save_checkpoint(args.out, average_checkpoints(args.checkpoints))
    except (CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: average of {len(args.checkpoints)} checkpoints")
    return 0
