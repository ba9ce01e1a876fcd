"""JSONL manifests: one JSON object per line, ``{"audio": path, "text": str,
"duration": seconds}``; a relative ``audio`` path is relative to the manifest's
folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.text import normalize_text


def read_manifest(path: str | Path, training: bool = False) -> list[dict]:
    """Read a JSONL manifest, resolving relative audio paths against its folder.

    Args:
        path: the manifest.
        training: also refuse an empty manifest and texts with no letter to learn.

    Raises:
        ValueError: a line that is not JSON, lacks ``audio``/``text``/``duration``
            or has a negative or non-finite duration (the message names the line).
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
                entry["audio"] = str(
                    audio if audio.is_absolute() else path.parent / audio
                )
                entry["text"], entry["duration"] = (
                    str(entry["text"]),
                    float(entry["duration"]),
                )
                _check_entry(entry, training)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{path}:{number}: bad manifest line ({error})"
                ) from None
            entries.append(entry)
    if training and not entries:
        raise ValueError(f"{path}: the manifest has no entries")
    return entries


def _check_entry(entry: dict, training: bool) -> None:
    if not (math.isfinite(entry["duration"]) and entry["duration"] >= 0):
        raise ValueError(f"duration {entry['duration']} is not a length in seconds")
    if training and not any(c.isalpha() for c in normalize_text(entry["text"])):
        raise ValueError(f"text {entry['text'][:40]!r} has no letter to learn")


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
