"""What reading a word LM computes, kept on disk so that the next process skips it.

Reading the shipped 3-gram LM for beam search takes about 1.4 s on one core: KenLM
parses the ARPA text (0.5 s), every word is spelled in the model's labels and
scored (0.6 s), and the lexicon trie is built (0.2 s). Two files in the cache folder
(``$ASR_CACHE``, else ``$XDG_CACHE_HOME/asr``, else ``~/.cache/asr``) take most of it
away:

- ``lm/<name>.<key>.lexicon.npz``: the word list in dictionary order, each word's
  spelling and unigram score (what ``trie_entries`` computes), for one label set;
  written the first time an LM is read, whatever the machine has.
- ``lm/<name>.<key>.klm``: KenLM's binary format of the same LM, which loads in
  about 0.04 s. KenLM's ``build_binary`` writes it (``asr lm binary``); no wheel ships
  that tool, so ``tools/build_kenlm.sh`` (``make kenlm``) compiles it once into
  ``<cache>/bin``. Once the tool is there, every LM gets its binary the first time it
  is read.

The key is a hash of the LM's resolved path, size and modification time (and, for
the lexicon, the labels), as Python keys its bytecode cache: an edited or replaced
LM is read again. Every file is written to a temporary name and renamed, so a
crash leaves no half-written cache, and a cache file that does not load is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.files import cache_dir

CACHE_VERSION = 1  # bump when the lexicon file's layout changes
BUILD_TIMEOUT = 600  # seconds for build_binary on one LM


def _key(path: Path, *extra: str) -> str:
    stat = path.stat()
    parts = [str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *extra]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _cached(path: Path, suffix: str, *extra: str) -> Path:
    return cache_dir() / "lm" / f"{path.name}.{_key(path, *extra)}{suffix}"


# --- the lexicon: words, spellings and unigram scores ---------------------------


class Lexicon(NamedTuple):
    words: list[str]  # the word dictionary, in index order
    spelled: list[int]  # indices of the words the labels can spell
    labels: list[list[int]]  # their spellings as label indices (with the boundary)
    scores: list[float]  # their unigram LM scores


def lexicon_file(path: Path, vocab: list[str]) -> Path:
    return _cached(path, ".lexicon.npz", f"v{CACHE_VERSION}", "\t".join(vocab))


def read_lexicon(path: Path, vocab: list[str]) -> Lexicon | None:
    """The cached lexicon of ``path`` for ``vocab``, or None (absent or unreadable)."""
    try:
        with np.load(lexicon_file(path, vocab), allow_pickle=False) as f:
            ends = f["ends"].tolist()
            flat = f["labels"].tolist()
            starts = [0, *ends[:-1]]
            return Lexicon(
                f["words"].tolist(),
                f["spelled"].tolist(),
                [flat[a:b] for a, b in zip(starts, ends, strict=True)],
                f["scores"].tolist(),
            )
    except Exception:  # absent, cut short or not ours: read the LM itself instead
        return None


def write_lexicon(path: Path, vocab: list[str], lexicon: Lexicon) -> None:
    """Cache ``lexicon`` (best effort: a read-only or full disk only costs speed)."""
    lengths = [len(labels) for labels in lexicon.labels]
    arrays = {
        "words": np.array(lexicon.words, dtype=str),
        "spelled": np.array(lexicon.spelled, dtype=np.int64),
        "labels": np.array([i for s in lexicon.labels for i in s], dtype=np.int32),
        "ends": np.cumsum(lengths, dtype=np.int64),
        "scores": np.array(lexicon.scores, dtype=np.float64),
    }
    _write(lexicon_file(path, vocab), lambda f: np.savez(f, **arrays))


def _write(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


# --- KenLM's binary format ------------------------------------------------------


def binary_file(path: Path) -> Path:
    return _cached(path, ".klm")


def build_binary_tool() -> str | None:
    """KenLM's build_binary: on PATH, or where tools/build_kenlm.sh puts it."""
    local = cache_dir() / "bin" / "build_binary"
    return shutil.which("build_binary") or (str(local) if local.is_file() else None)


def binary_for(path: Path, build: bool = True) -> Path | None:
    """The binary form of the ARPA LM at ``path``: the cached one, or (``build`` and
    the tool at hand) one built now; None when there is neither."""
    target = binary_file(path)
    if target.is_file():
        return target
    tool = build_binary_tool()
    if not build or tool is None:
        return None
    try:
        build_binary(path, target, tool)
    except (OSError, RuntimeError):
        return None
    return target


def build_binary(arpa: Path, target: Path, tool: str | None = None) -> Path:
    """Write KenLM's binary (probing hash) form of ``arpa`` to ``target``.

    Raises:
        RuntimeError: no build_binary, or it failed (with its last line).
    """
    tool = tool or build_binary_tool()
    if tool is None:
        raise RuntimeError(
            "KenLM's build_binary is not installed: run `make kenlm` "
            "(tools/build_kenlm.sh compiles it)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # -s: accept LMs without <s> and </s> (grammar LMs may lack them)
        done = subprocess.run(
            [tool, "-s", str(arpa), str(tmp)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["failed"]
            raise RuntimeError(f"{arpa}: build_binary: {lines[-1]}")
        os.replace(tmp, target)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{arpa}: build_binary ran past {BUILD_TIMEOUT} s") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
