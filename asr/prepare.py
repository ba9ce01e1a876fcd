"""Shared pieces of the dataset recipes: resumable downloads with a progress bar,
archive checks and extraction, and done-markers that make each stage idempotent."""

from __future__ import annotations

import hashlib
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20  # bytes read at a time while downloading and hashing


def download(url: str, dest: Path, sha256: str | None = None) -> Path:
    """Fetch ``url`` to ``dest``, resuming a partial ``dest.part`` with an HTTP Range
    request; verify ``sha256`` when given. An existing ``dest`` is kept as it is
    (after verification)."""
    dest = Path(dest)
    if dest.exists():
        if sha256:
            verify_sha256(dest, sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        if offset and getattr(response, "status", None) != 206:  # range ignored
            offset = 0
        size = response.headers.get("Content-Length")
        total = int(size) + offset if size else None
        mode = "ab" if offset else "wb"
        with part.open(mode) as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name
        ) as bar:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    if sha256:
        verify_sha256(part, sha256)
    part.replace(dest)
    return dest


def verify_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise ValueError(f"{path}: checksum mismatch (sha256 {digest.hexdigest()})")


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a zip or tar archive into ``dest`` after checking it is complete,
    refusing members that would land outside ``dest``. Idempotent: a done-marker
    skips the work the second time."""
    archive, dest = Path(archive), Path(dest)
    marker = dest / f".{archive.name}.extracted"
    if marker.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise ValueError(f"{archive}: corrupt member {bad}")
            _check_members(dest, z.namelist())
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")
    marker.touch()
    return dest


def _check_members(dest: Path, names: list[str]) -> None:
    root = dest.resolve()
    for name in names:
        if not (root / name).resolve().is_relative_to(root):
            raise ValueError(f"archive member {name!r} would be written outside {dest}")
