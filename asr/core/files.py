"""File checks shared by the commands: inputs that are regular files of a bounded
size, outputs that can be written, where the shipped models and the cache live, and
the error for a model file that cannot be used (no torch here: the ONNX runtime reads
models too)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"  # shipped ones
MAX_TEXT_BYTES = 1_000_000  # a settings file or hotword list: 100x any real one
MAX_CORPUS_CHARS = 2_000_000_000  # text for an LM, decompressed: ~350 M words


def cache_dir() -> Path:
    """Where asr keeps files it derives and can derive again (an LM's binary form,
    the joined Whisper teacher): ``$ASR_CACHE``, else ``$XDG_CACHE_HOME/asr``, else
    ``~/.cache/asr``."""
    if root := os.environ.get("ASR_CACHE"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asr"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, unsafe or incompatible."""


class InputFileError(ValueError):
    """An input that is not read: missing, not a regular file (a device such as
    /dev/zero, a FIFO, a socket, a directory) or over the size allowed for its kind.
    The message is one line naming the file."""


def regular_file(path: str | Path, what: str = "file") -> Path:
    """``path`` if it names a regular file (after following symbolic links).

    Checked before opening, because reading a device never ends (/dev/zero gives
    gigabytes in seconds) and opening a FIFO blocks until a writer comes.

    Raises:
        InputFileError: missing, unreadable, or not a regular file.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        reason = error.strerror or error
        raise InputFileError(f"{path}: cannot read the {what} ({reason})") from None
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{path}: a directory, not a {what}")
    if not stat.S_ISREG(mode):
        raise InputFileError(
            f"{path}: not a regular file (a device, FIFO or socket); "
            f"the {what} must be a file"
        )
    return Path(path)


def model_file(path: str | Path, what: str = "model") -> Path:
    """``path`` if it names a regular file to load a model from.

    Raises:
        CheckpointError: missing, or not a regular file (/dev/zero, a FIFO).
    """
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        return regular_file(path, what)
    except InputFileError as error:
        raise CheckpointError(str(error)) from None


def read_text(
    path: str | Path,
    what: str = "file",
    max_bytes: int = MAX_TEXT_BYTES,
    encoding: str = "utf-8",
) -> str:
    """The text of a regular file of at most ``max_bytes`` bytes; never reads more
    than one byte past the limit, whatever the file claims its size is.

    Raises:
        InputFileError: not a regular file, or larger than ``max_bytes``.
        UnicodeDecodeError: not text in ``encoding``.
    """
    regular_file(path, what)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as error:
        reason = error.strerror or error
        raise InputFileError(f"{path}: cannot read the {what} ({reason})") from None
    if len(data) > max_bytes:
        raise InputFileError(
            f"{path}: the {what} is larger than the {max_bytes:,} bytes allowed"
        )
    return data.decode(encoding)


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
