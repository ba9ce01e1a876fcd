"""File checks shared by the commands that write results; where the shipped models
and the cache live, and the error for a model file that cannot be used (no torch
here: the ONNX runtime reads models too)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"  # shipped ones


def cache_dir() -> Path:
    """Where asr keeps files it derives and can derive again (an LM's binary form,
    the joined Whisper teacher): ``$ASR_CACHE``, else ``$XDG_CACHE_HOME/asr``, else
    ``~/.cache/asr``."""
    if root := os.environ.get("ASR_CACHE"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asr"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, unsafe or incompatible."""


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir`` and write a 4 kB probe there, so that an unwritable or full
    disk is reported before hours of training, not at the first checkpoint."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"0" * 4096)
        probe.unlink()
    except OSError as error:
        raise OSError(
            f"{out_dir}: output directory is not writable ({error})"
        ) from None


def replace_folder(new: Path, out: Path) -> None:
    """Put the complete ``new`` folder (a sibling of ``out``) in place of ``out``:
    an earlier ``out`` is set aside first (``.NAME.old``) and deleted once ``new``
    has its name: ``out`` is never a mix of the two."""
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)
