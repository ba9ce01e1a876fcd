"""Transcribe many files in one run: expand files, directories and globs, show one
progress bar across them, write each result in the chosen formats, skip and report
bad files, and close with a summary line."""

from __future__ import annotations

import glob
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .audio import AudioError
from .blocks import audio_duration
from .output import render

AUDIO_EXTENSIONS = frozenset(
    ".wav .flac .ogg .oga .opus .mp3 .m4a .aac .webm .aif .aiff .au .caf .wma .mka".split()
)  # what a directory is searched for; files named on the command line may be any type
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Job:
    path: Path  # the audio file
    name: Path  # output path relative to --output-dir, without a format extension


def collect_inputs(inputs: list[str]) -> tuple[list[Job], list[str]]:
    """Expand command-line inputs into audio files.

    Directories are searched recursively for AUDIO_EXTENSIONS and keep their
    layout under the output folder; glob patterns are expanded here too (so quoted
    patterns work, ``**`` included); files are taken as they are.

    Returns:
        The jobs in order, without duplicates, and one error line per input that
        names nothing.
    """
    jobs, errors, seen = [], [], set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [
                Job(p, p.relative_to(path).with_suffix(""))
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            ]
            if not found:
                errors.append(f"{item}: no audio files in this directory")
        elif not path.exists() and GLOB_CHARACTERS & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            found = [Job(Path(p), Path(Path(p).stem)) for p in matches if Path(p).is_file()]
            if not found:
                errors.append(f"{item}: no files match")
        else:
            found = [Job(path, Path(path.stem))]
        for job in found:
            if job.path.resolve() not in seen:
                seen.add(job.path.resolve())
                jobs.append(job)
    return jobs, errors


def transcribe_files(
    model,
    inputs: list[str],
    formats: list[str],
    output_dir: Path | None,
    decoder=None,
    words: bool = False,
    quiet: bool = False,
) -> int:
    """Transcribe every input; report each bad one on stderr and go on.

    Args:
        model: an ``ASRModel``.
        inputs: files, directories and glob patterns.
        formats: output formats (``asr.output.FORMATS``); several need ``output_dir``.
        output_dir: where to write ``<name>.<format>`` per input; None prints to
            stdout.
        decoder: a beam search decoder; None decodes greedily.
        words: time every word; txt on stdout then prints a line per word.
        quiet: no progress bar and no summary line (errors are still printed).

    Returns:
        0 when every file was transcribed, 1 otherwise.
    """
    jobs, errors = collect_inputs(inputs)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    durations = [audio_duration(job.path) for job in jobs]
    by_time = bool(jobs) and all(d is not None for d in durations)
    bar = tqdm(
        total=round(sum(durations), 1) if by_time else len(jobs),
        unit="s" if by_time else "file", desc="transcribing", file=sys.stderr,
        disable=True if quiet else None, dynamic_ncols=True,
    )  # fmt: skip
    failed, audio_s, started = len(errors), 0.0, time.perf_counter()
    for job, duration in zip(jobs, durations, strict=True):
        try:
            segments = list(
                model.transcribe_segments(job.path, decoder=decoder, words=words)
            )
            _emit(job, segments, formats, output_dir, len(jobs) > 1, words)
            audio_s += duration if duration is not None else _last_end(segments)
        except (AudioError, OSError, RuntimeError) as error:
            tqdm.write(f"error: {_describe(job.path, error)}", file=sys.stderr)
            failed += 1
        bar.update(round(duration, 1) if by_time else 1)
    bar.close()
    elapsed = time.perf_counter() - started
    total = len(jobs) + len(errors)
    if not quiet:
        print(
            f"{total} files, {failed} failed, {audio_s / 3600:.2f} h of audio in "
            f"{elapsed:.1f} s (RTF {elapsed / max(audio_s, 1e-9):.3f})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _emit(job: Job, segments, formats, output_dir: Path | None, several: bool, words: bool):
    if output_dir is None:
        fmt = formats[0]
        if fmt == "txt" and words:
            header = f"# {job.path}\n" if several else ""
            lines = [f"{w.start:.2f}\t{w.end:.2f}\t{w.confidence:.3f}\t{w.word}"
                     for s in segments for w in s.words]  # fmt: skip
            if header or lines:  # nothing at all for one file without words
                print(header + "\n".join(lines), flush=True)
        elif fmt == "txt":
            text = render(segments, "txt").strip()
            print(f"{job.path}\t{text}" if several else text, flush=True)
        elif fmt == "json" and several:
            print(json.dumps(json.loads(render(segments, "json", str(job.path)))), flush=True)
        else:
            header = f"==> {job.path} <==\n" if several else ""
            print(header + render(segments, fmt, str(job.path)), end="", flush=True)
        return
    for fmt in formats:
        target = output_dir / job.name.with_name(f"{job.name.name}.{fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(segments, fmt, str(job.path)), encoding="utf-8")


def _last_end(segments) -> float:
    return segments[-1].end if segments else 0.0


def _describe(path: Path, error: Exception) -> str:
    message = str(error)
    return message if str(path) in message else f"{path}: {message}"
