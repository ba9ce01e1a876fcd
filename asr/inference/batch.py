"""Transcribe many files in one run: expand files, directories and globs, show one
progress bar across them, write each result in the chosen formats, skip and report
bad files, and close with a summary line."""

from __future__ import annotations

import atexit
import glob
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..audio.blocks import audio_duration, truncation
from ..audio.io import AudioError
from ..core.files import check_writable
from ..decoding.grammar import GrammarError, load_grammar
from ..decoding.match import grammar_decoder
from .output import SUBTITLE_FORMATS, render

AUDIO_EXTENSIONS = frozenset(
    ".wav .flac .ogg .oga .opus .mp3 .m4a .aac .webm".split()
    + ".aif .aiff .au .caf .wma .mka".split()
)  # what a directory is searched for; files named on the command line may be any type
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Job:
    path: Path  # the audio file
    name: Path  # output path relative to --output-dir, without a format extension
    label: str = ""  # how the input is shown (default: its path; "-" for stdin)

    def __str__(self) -> str:
        return self.label or str(self.path)


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
            found = [
                Job(Path(p), Path(Path(p).stem)) for p in matches if Path(p).is_file()
            ]
            if not found:
                errors.append(f"{item}: no files match")
        elif item == "-":
            found = [Job(read_stdin(), Path("stdin"), "-")]
        else:
            problem = _not_regular(path)
            found = [] if problem else [Job(path, Path(path.stem))]
            errors += [f"{item}: {problem}"] if problem else []
        for job in found:
            key = os.path.realpath(job.path)  # never raises, even on a symlink loop
            if key not in seen:
                seen.add(key)
                jobs.append(job)
    return jobs, errors


def _not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (a FIFO would block, a symlink loop
    raises), or None; a missing file is left for the reader to report."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        return error.strerror or str(error)
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_stdin() -> Path:
    """Copy standard input (``-`` on the command line) to a temporary file, which
    is removed when the process exits."""
    handle = tempfile.NamedTemporaryFile(prefix="asr-stdin-", delete=False)
    with handle:
        shutil.copyfileobj(sys.stdin.buffer, handle)
    _TEMPORARY.append(handle.name)
    return Path(handle.name)


_TEMPORARY: list[str] = []  # stdin copies, removed at exit


@atexit.register
def _remove_temporary() -> None:
    for name in _TEMPORARY:
        Path(name).unlink(missing_ok=True)


def check_plan(jobs: list[Job], formats: list[str], output_dir: Path | None):
    """Problems to report before any work: output names two inputs share, subtitles
    of several files on one stream, an output folder that cannot be written."""
    if output_dir is None:
        several = len(jobs) > 1
        if several and set(formats) & SUBTITLE_FORMATS:
            return [f"several inputs as {formats[0]} on stdout would not be one valid "
                    "subtitle file; use --output-dir"]  # fmt: skip
        return []
    owners: dict[Path, Job] = {}
    problems = []
    for job in jobs:
        if job.name in owners:
            problems.append(f"{owners[job.name]} and {job} would both write "
                            f"{job.name}.<format> in {output_dir}; "
                            "rename one")  # fmt: skip
        owners.setdefault(job.name, job)
    try:
        check_writable(output_dir)
    except OSError as error:
        problems.append(str(error))
    return problems


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
        formats: output formats (``asr.inference.output.FORMATS``); several need
        ``output_dir``. output_dir: where to write ``<name>.<format>`` per input; None
            prints to stdout.
        decoder: a beam search decoder; None decodes greedily.
        words: time every word; txt on stdout then prints a line per word.
        quiet: no progress bar and no summary line (errors are still printed).

    Returns:
        0 when every file was transcribed, 1 when any failed, 2 when the run
        could not start (``check_plan``).
    """
    jobs, errors = collect_inputs(inputs)
    problems = check_plan(jobs, formats, output_dir)
    for line in errors + problems:
        print(f"error: {line}", file=sys.stderr)
    if problems:
        return 2
    durations = [audio_duration(job.path) for job in jobs]
    by_time = bool(jobs) and all(d is not None for d in durations)
    bar = tqdm(
        total=round(sum(durations), 1) if by_time else len(jobs),
        unit="s" if by_time else "file", desc="transcribing", file=sys.stderr,
        disable=True if quiet else None, dynamic_ncols=True,
    )  # fmt: skip
    failed, audio_s, busy_s, started = len(errors), 0.0, 0.0, time.perf_counter()
    for job, duration in zip(jobs, durations, strict=True):
        began = time.perf_counter()
        if problem := truncation(job.path):
            tqdm.write(f"warning: {job}: {problem}", file=sys.stderr)
        try:
            segments = list(
                model.transcribe_segments(job.path, decoder=decoder, words=words)
            )
            _emit(job, segments, formats, output_dir, len(jobs) > 1, words)
            audio_s += duration if duration is not None else _last_end(segments)
            busy_s += time.perf_counter() - began  # RTF counts files that worked
        except BrokenPipeError:
            raise  # stdout's reader has gone: no point going on (asr.cli exits quietly)
        except (AudioError, OSError, RuntimeError) as error:
            tqdm.write(f"error: {_describe(job, error)}", file=sys.stderr)
            failed += 1
        bar.update(round(duration, 1) if by_time else 1)
    bar.close()
    if not quiet:
        print(summary(len(jobs) + len(errors), failed, audio_s, busy_s,
                      time.perf_counter() - started), file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def summary(files: int, failed: int, audio_s: float, busy_s: float, wall_s: float):
    """``N files, M failed, 12.3 s of audio in 1.2 s (RTF 0.098)``: seconds below an
    hour of audio, hours above; the real-time factor over the files that worked."""
    audio = f"{audio_s:.1f} s" if audio_s < 3600 else f"{audio_s / 3600:.2f} h"
    rtf = f"RTF {busy_s / audio_s:.3f}" if audio_s > 0 else "RTF n/a"
    noun = "file" if files == 1 else "files"
    return (
        f"{files} {noun}, {failed} failed, {audio} of audio in {wall_s:.1f} s ({rtf})"
    )


def _emit(
    job: Job, segments, formats, output_dir: Path | None, several: bool, words: bool
):
    """Print one format on stdout (several files: ``path<TAB>text`` lines for txt,
    one JSON object a line for json, ``==> path <==`` headers for tsv), or write
    every format under ``output_dir``."""
    if output_dir is None:
        fmt, timed = formats[0], any(s.words for s in segments)
        if fmt == "txt" and (timed or words):
            header = f"# {job}\n" if several else ""
            body = render(segments, "txt").rstrip("\n") if timed else ""
            if header or body:  # nothing at all for one file without words
                print(header + body, flush=True)
        elif fmt == "txt":
            text = render(segments, "txt").strip()
            print(f"{job}\t{text}" if several else text, flush=True)
        elif fmt == "json" and several:  # JSON Lines
            document = json.loads(render(segments, "json", str(job)))
            print(json.dumps(document), flush=True)
        else:
            header = f"==> {job} <==\n" if several else ""
            print(header + render(segments, fmt, str(job)), end="", flush=True)
        return
    for fmt in formats:
        target = output_dir / job.name.with_name(f"{job.name.name}.{fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(segments, fmt, str(job)), encoding="utf-8")


def _last_end(segments) -> float:
    return segments[-1].end if segments else 0.0


def _describe(job: Job, error: Exception) -> str:
    message = str(error).replace(str(job.path), str(job))
    return message if str(job) in message else f"{job}: {message}"


def match_files(model, inputs: list[str], args) -> int:
    """Match every input file against ``args.grammar``; bad files are reported on
    stderr and skipped; a bar on a terminal and a summary line on stderr, as
    ``transcribe_files``. Returns 0, 1 when any file failed, 2 for a bad grammar
    or options a grammar cannot honour."""
    refused = [flag for flag, given in (
        ("--output-dir", getattr(args, "output_dir", None) is not None),
        ("--output-format", getattr(args, "output_format", ["txt"]) != ["txt"]),
        ("--word-timestamps", getattr(args, "word_timestamps", False)),
    ) if given]  # fmt: skip
    if refused:
        print(f"error: --grammar prints one line per file; it cannot take "
              f"{', '.join(refused)}", file=sys.stderr)  # fmt: skip
        return 2
    try:
        grammar = load_grammar(args.grammar)
        decoder = grammar_decoder(grammar, model.tokenizer, args.unk,
                                  args.unk_penalty, args.unk_max_distance)  # fmt: skip
    except GrammarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    jobs, errors = collect_inputs(inputs)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    quiet = getattr(args, "quiet", False)
    failed, audio_s, busy_s, started = len(errors), 0.0, 0.0, time.perf_counter()
    bar = tqdm(total=len(jobs), desc="match", unit="file", file=sys.stderr,
               disable=True if quiet else None, dynamic_ncols=True)  # fmt: skip
    for job in jobs:
        began = time.perf_counter()
        try:
            result = model.match(job.path, decoder)
            audio_s += audio_duration(job.path) or 0.0
            busy_s += time.perf_counter() - began
        except (AudioError, OSError, ValueError) as error:
            tqdm.write(f"error: {_describe(job, error)}", file=sys.stderr)
            failed += 1
        else:
            tqdm.write(
                f"{job.path}\t{result.text}\t{result.to_json()}", file=sys.stdout
            )
        bar.update(1)
    bar.close()
    if not quiet:
        print(summary(len(jobs) + len(errors), failed, audio_s, busy_s,
                      time.perf_counter() - started), file=sys.stderr)  # fmt: skip
    return 1 if failed else 0
