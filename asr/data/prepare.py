"""Shared pieces of the dataset recipes: resumable downloads with a progress bar,
checksum and size checks, archive extraction, done-markers that make each stage
idempotent, audio probing that reports broken files instead of stopping, conversion
of formats libsndfile cannot read, writing the train/dev/test manifests, and the
command line every ``recipes/<dataset>/prepare.py`` shares."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .manifest import write_manifest

CHUNK = 1 << 20  # bytes read at a time while downloading and hashing
UNKNOWN_FRAMES = 2**62  # libsndfile's frame count when a header leaves it open
CONVERT_TIMEOUT_S = 600  # a conversion that takes longer than this is treated as hung
OUT_DIR_HELP = "where the manifests (and a download) go"  # most recipes' --out-dir
URL_HELP = "archive to download without --source"  # every recipe's --url

Option = tuple[str, dict]  # one command-line flag: its name and add_argument keywords


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming a partial ``dest.part`` with an HTTP Range
    request; check ``size`` (bytes) and the ``sha256``/``md5`` digests when given. An
    existing ``dest`` is kept as it is (after verification)."""
    dest = Path(dest)
    if dest.exists():
        verify(dest, sha256=sha256, md5=md5, size=size)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(
        url, headers={"Range": f"bytes={offset}-"} if offset else {}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        if offset and getattr(response, "status", None) != 206:  # range ignored
            offset = 0
        length = response.headers.get("Content-Length")
        total = int(length) + offset if length else size
        mode = "ab" if offset else "wb"
        with (
            part.open(mode) as f,
            tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    try:
        verify(part, sha256=sha256, md5=md5, size=size)
    except ValueError:
        part.unlink()  # a corrupt download must not be resumed
        raise
    part.replace(dest)
    return dest


def verify(
    path: Path,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
) -> None:
    """Check a file's size (bytes) and digests; raise ValueError naming the file."""
    path = Path(path)
    if size is not None and path.stat().st_size != size:
        raise ValueError(f"{path}: size {path.stat().st_size} bytes, expected {size}")
    for name, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            digest = file_digest(path, name)
            if digest != expected.lower():
                raise ValueError(f"{path}: checksum mismatch ({name} {digest})")


def verify_sha256(path: Path, expected: str) -> None:
    verify(path, sha256=expected)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        size, name = Path(path).stat().st_size, f"{algorithm} {Path(path).name}"
        with tqdm(total=size, unit="B", unit_scale=True, desc=name, leave=False) as bar:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a zip or tar archive into ``dest`` after checking it is complete,
    refusing members that would land outside ``dest``. Idempotent: a done-marker
    skips the work the second time; an interrupted extraction starts over."""
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
            for member in tqdm(
                z.infolist(), desc=f"extract {archive.name}", unit="file"
            ):
                z.extract(member, dest)
    elif tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as t:
                for member in tqdm(t, desc=f"extract {archive.name}", unit="file"):
                    t.extract(member, dest, filter="data")
        except (tarfile.TarError, EOFError, OSError) as error:
            raise ValueError(
                f"{archive}: truncated or corrupt archive ({error})"
            ) from None
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")
    marker.touch()
    return dest


def _check_members(dest: Path, names: list[str]) -> None:
    root = dest.resolve()
    for name in names:
        if not (root / name).resolve().is_relative_to(root):
            raise ValueError(f"archive member {name!r} would be written outside {dest}")


def fetch(url: str, download_dir: Path, **checks) -> Path:
    """Download (resumably, verified) and extract one archive into ``download_dir``."""
    archive = download(url, Path(download_dir) / Path(url).name, **checks)
    return extract(archive, Path(download_dir))


def audio_duration(path: Path) -> float:
    """Seconds of audio in a file libsndfile reads (wav, flac, NIST SPHERE, mp3, ...).

    Raises:
        ValueError: the file is missing, unreadable or holds no samples.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(str(error).strip().splitlines()[-1]) from None
    frames = info.frames
    if frames >= UNKNOWN_FRAMES:  # the header does not say; count by decoding
        with sf.SoundFile(str(path)) as f:
            frames = sum(len(block) for block in f.blocks(CHUNK))
    if frames <= 0 or info.samplerate <= 0:
        raise ValueError("no audio samples")
    return round(frames / info.samplerate, 3)


def convert_audio(source: Path, dest: Path, raw_format: dict | None = None) -> Path:
    """Convert audio libsndfile cannot read (SPHERE variants it rejects, headerless
    raw) to 16-bit FLAC with sox, then ffmpeg if sox fails or is missing; an existing
    ``dest`` is kept. ``raw_format`` describes headerless input, e.g. ``{"rate":
    16000, "bits": 16, "endian": "big"}``. (Shorten-packed SPHERE needs sph2pipe,
    which neither tool replaces; such files are reported as broken.)

    Raises:
        ValueError: no converter is installed or every one failed.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.stem + ".tmp" + dest.suffix)
    commands = _convert_commands(Path(source), tmp, raw_format)
    if not commands:
        raise ValueError("neither sox nor ffmpeg is installed to convert it")
    reasons = []
    for cmd in commands:
        try:
            result = subprocess.run(cmd, capture_output=True, timeout=CONVERT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            reasons.append(f"{cmd[0]}: took over {CONVERT_TIMEOUT_S} s")
            continue
        if result.returncode == 0 and tmp.exists():
            tmp.replace(dest)
            return dest
        tmp.unlink(missing_ok=True)
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        reasons.append(f"{cmd[0]}: {lines[-1] if lines else 'error'}")
    raise ValueError(f"could not convert it ({'; '.join(reasons)})")


def _convert_commands(source: Path, dest: Path, raw: dict | None) -> list[list[str]]:
    commands = []
    if shutil.which("sox"):
        fmt = []
        if raw:
            fmt = ["-t", "raw", "-r", str(raw["rate"]), "-b", str(raw["bits"]),
                   "-e", "signed-integer", f"--endian={raw['endian']}"]  # fmt: skip
        commands.append(["sox", "-V1", *fmt, str(source), "-b", "16", str(dest)])
    if shutil.which("ffmpeg"):
        fmt = []
        if raw:
            codec = f"s{raw['bits']}{'be' if raw['endian'] == 'big' else 'le'}"
            fmt = ["-f", codec, "-ar", str(raw["rate"]), "-ac", "1"]
        commands.append(["ffmpeg", "-nostdin", "-v", "error", "-y", *fmt, "-i",
                         str(source), "-sample_fmt", "s16", str(dest)])  # fmt: skip
    return commands


def readable_audio(
    path: Path, convert_dir: Path | None = None, raw_format: dict | None = None
) -> tuple[Path, float]:
    """The file itself when libsndfile reads it, else a FLAC copy made under
    ``convert_dir`` (when given); and its duration in seconds.

    Raises:
        ValueError: the audio is broken or cannot be converted.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError("missing or empty file")
    if raw_format is None:
        try:
            return path, audio_duration(path)
        except ValueError:
            if convert_dir is None:
                raise
    converted = convert_audio(
        path, Path(convert_dir) / (path.stem + ".flac"), raw_format
    )
    try:
        return converted, audio_duration(converted)
    except ValueError:
        converted.unlink(missing_ok=True)
        raise


def hash_split(key: str, dev_percent: int, test_percent: int) -> str:
    """ "train", "dev" or "test" for ``key`` (an utterance, prompt or speaker id), from
    a hash of it: stable across runs and machines, about the given percentages."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100
    if bucket < test_percent:
        return "test"
    return "dev" if bucket < test_percent + dev_percent else "train"


def write_splits(
    out_dir: Path, name: str, splits: dict[str, list[dict]], broken: list[str]
) -> dict[str, int]:
    """Report broken files on stderr, write ``out_dir/<split>.jsonl`` for every split
    (atomically, sorted by audio path so reruns give identical files), print and
    return the counts, and leave a done-marker."""
    out_dir = Path(out_dir)
    for message in broken:
        print(f"warning: skipped {message}", file=sys.stderr)
    for split, entries in splits.items():
        write_manifest(
            out_dir / f"{split}.jsonl", sorted(entries, key=lambda e: e["audio"])
        )
    counts = {split: len(entries) for split, entries in splits.items()}
    print(f"{name}: {counts}, {len(broken)} broken files skipped -> {out_dir}")
    (out_dir / ".prepared").write_text(f"{counts}\n")
    return counts


def probe_entries(
    candidates: list[dict], desc: str, convert_dir: Path | None = None
) -> tuple[list[dict], list[str]]:
    """Keep the candidate entries whose ``audio`` reads (converting it under
    ``convert_dir`` when needed), filling in ``duration``; a message for each other.

    A candidate may carry ``raw_format`` (see ``convert_audio``), which is dropped
    from the entry.
    """
    good, broken = [], []
    for candidate in tqdm(candidates, desc=desc, unit="file"):
        entry = dict(candidate)
        raw = entry.pop("raw_format", None)
        try:
            audio, duration = readable_audio(Path(entry["audio"]), convert_dir, raw)
        except ValueError as error:
            broken.append(f"{entry['audio']}: {error}")
            continue
        entry["audio"], entry["duration"] = str(Path(audio).resolve()), duration
        good.append(entry)
    return good, broken


def source_option(help: str) -> Option:
    """``--source``: a local copy of the dataset; none means download it."""
    return "--source", {"type": Path, "default": None, "help": help}


def out_dir_option(default: str, help: str = OUT_DIR_HELP) -> Option:
    """``--out-dir``: where the manifests (and whatever else the recipe makes) go."""
    return "--out-dir", {"type": Path, "default": Path(default), "help": help}


def url_option(default: str | None) -> Option:
    """``--url``: the archive downloaded when ``--source`` is not given."""
    return "--url", {"default": default, "help": URL_HELP}


def recipe_main(
    doc: str,
    prepare: Callable[..., dict[str, int]],
    options: Sequence[Option],
    argv: list[str] | None = None,
) -> dict[str, int]:
    """Parse a recipe's command line and call ``prepare`` with one keyword per flag.

    Args:
        doc: the recipe's module docstring, shown above the flags by ``--help``.
        prepare: the recipe's ``prepare``; its parameter names are the flags'
            destinations (``--out-dir`` -> ``out_dir``).
        options: the flags in ``--help`` order, e.g. ``[source_option(...),
            out_dir_option("data/fsdd"), url_option(URL)]``.
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        What ``prepare`` returns: the number of entries per split.
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    args = parser.parse_args(argv)
    try:
        return prepare(**vars(args))
    except urllib.error.URLError as error:  # no network, or the server is gone
        hint = "; without network, pass --source" if "source" in vars(args) else ""
        sys.exit(f"error: cannot download ({error.reason}){hint}")
