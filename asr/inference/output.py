"""Transcription results and the file formats they are written in: plain text, JSON,
SubRip (SRT), WebVTT and tab-separated values (TSV, times in milliseconds).

Segments that carry word timings (``--word-timestamps``) put them in every format
that can hold them: a line per word in txt and tsv, a words list in json, and WebVTT
cue timestamps (``<00:00:01.500>word``); SRT has no place for them. Subtitle cues
hold at most MAX_CUE_LINES lines of MAX_LINE_CHARS characters: a longer segment is
split into several cues, timed by its words when known, else by its characters."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass

MAX_LINE_CHARS = 42  # characters per subtitle line (the common broadcast limit)
MAX_CUE_LINES = 2  # lines per subtitle cue
SUBTITLE_FORMATS = frozenset({"srt", "vtt"})  # one document per input, never several


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float  # seconds from the start of the audio
    text: str  # transcript of the segment (may be empty)
    words: tuple = ()  # WordTiming per word, times from the start of the audio,
    #                    if asked


def format_timestamp(seconds: float, decimal: str = ",", hours: bool = True) -> str:
    """Clock time with milliseconds, rounded to the nearest millisecond.

    >>> format_timestamp(3661.5)
    '01:01:01,500'
    >>> format_timestamp(62.0004, decimal=".", hours=False)
    '01:02.000'
    """
    total_ms = round(max(seconds, 0.0) * 1000)
    h, rest = divmod(total_ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    clock = f"{h:02d}:{m:02d}:{s:02d}" if hours or h else f"{m:02d}:{s:02d}"
    return f"{clock}{decimal}{ms:03d}"


def to_txt(segments: list[Segment]) -> str:
    """The transcript on one line; with word timings, one
    ``start<TAB>end<TAB>confidence<TAB>word`` line per word (seconds)."""
    if any(s.words for s in segments):
        return "".join(f"{w.start:.2f}\t{w.end:.2f}\t{w.confidence:.3f}\t{w.word}\n"
                       for s in segments for w in s.words)  # fmt: skip
    return transcript(segments) + "\n"


def transcript(segments: list[Segment]) -> str:
    """The text of every segment, on one line."""
    return " ".join(s.text for s in segments if s.text)


def to_json(segments: list[Segment], audio: str | None = None) -> str:
    """{"audio": ..., "text": ..., "segments": [{"start", "end", "text"}, ...]}"""
    document = {
        "audio": audio,
        "text": transcript(segments),
        "segments": [_segment_dict(s) for s in segments],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _segment_dict(segment: Segment) -> dict:
    fields = {"start": segment.start, "end": segment.end, "text": segment.text}
    if segment.words:
        fields["words"] = [w._asdict() for w in segment.words]
    return fields


def to_srt(segments: list[Segment]) -> str:
    """SubRip: numbered cues, "HH:MM:SS,mmm --> HH:MM:SS,mmm", blank line between."""
    cues = [
        f"{i}\n{format_timestamp(a)} --> {format_timestamp(b)}\n{_lines(lines)}\n"
        for i, (a, b, lines, _) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(cues)


def to_vtt(segments: list[Segment]) -> str:
    """WebVTT: a "WEBVTT" header, then "HH:MM:SS.mmm --> HH:MM:SS.mmm" cues; word
    timings, when known, as a cue timestamp before each word but the first."""
    cues = []
    for a, b, lines, words in _cues(segments):
        if words:
            starts = iter(f"<{format_timestamp(w.start, '.')}>" for w in words[1:])
            lines = [[next(starts) + w if (i or j) else w for j, w in enumerate(line)]
                     for i, line in enumerate(lines)]  # fmt: skip
        cues.append(f"{format_timestamp(a, '.')} --> {format_timestamp(b, '.')}\n"
                    f"{_lines(lines)}\n")  # fmt: skip
    return "\n".join(["WEBVTT\n", *cues])


def to_tsv(segments: list[Segment]) -> str:
    """start<TAB>end<TAB>text with integer milliseconds, under a header line; with
    word timings, a row per word and a confidence column."""
    if any(s.words for s in segments):
        rows = [f"{round(w.start * 1000)}\t{round(w.end * 1000)}\t{w.word}\t"
                f"{w.confidence:.3f}" for s in segments for w in s.words]  # fmt: skip
        return "\n".join(["start\tend\ttext\tconfidence", *rows]) + "\n"
    rows = [
        f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.text}" for s in segments
    ]
    return "\n".join(["start\tend\ttext", *rows]) + "\n"


def _lines(lines: list[list[str]]) -> str:
    return "\n".join(" ".join(line) for line in lines)


def _cues(segments: list[Segment]) -> list[tuple[float, float, list, tuple]]:
    """(start, end, lines of words, word timings) per subtitle cue: each spoken
    segment's words wrapped into lines of at most MAX_LINE_CHARS characters,
    MAX_CUE_LINES lines a cue."""
    cues = []
    for segment in segments:
        words = segment.text.split()
        if not words:
            continue  # a subtitle cue needs text
        lines = _wrap(words)
        timed = len(segment.words) == len(words)
        ends = [len(" ".join(words[: i + 1])) for i in range(len(words))]  # characters
        first = 0
        for k in range(0, len(lines), MAX_CUE_LINES):
            group = lines[k : k + MAX_CUE_LINES]
            last = first + sum(len(line) for line in group) - 1
            if timed:
                start, end = segment.words[first].start, segment.words[last].end
            else:
                scale = (segment.end - segment.start) / ends[-1]
                start = segment.start + scale * (ends[first] - len(words[first]))
                end = segment.start + scale * ends[last]
            if k == 0:
                start = segment.start
            if last == len(words) - 1:
                end = segment.end
            timing = segment.words[first : last + 1] if timed else ()
            cues.append((start, end, group, timing))
            first = last + 1
    return cues


def _wrap(words: list[str]) -> list[list[str]]:
    """Words into lines of at most MAX_LINE_CHARS characters (a longer word gets
    a line of its own)."""
    lines: list[list[str]] = [[]]
    for word in words:
        if lines[-1] and len(" ".join([*lines[-1], word])) > MAX_LINE_CHARS:
            lines.append([])
        lines[-1].append(word)
    return lines


WRITERS: dict[str, Callable[[list[Segment]], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
    "tsv": to_tsv,
}
FORMATS = tuple(WRITERS)  # every --output-format


def output_formats(value: str) -> list[str]:
    """The formats named by an ``--output-format`` value ("all": every one)."""
    if value.strip().lower() == "all":
        return list(FORMATS)
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown format {','.join(unknown) or value!r}; "
            f"choose from {','.join(FORMATS)} or all"
        )
    return formats


def render(segments: list[Segment], fmt: str, audio: str | None = None) -> str:
    """The document for ``segments`` in format ``fmt`` (one of FORMATS); ``audio``
    names the source file in JSON."""
    if fmt not in WRITERS:
        raise ValueError(
            f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}"
        )
    return to_json(segments, audio) if fmt == "json" else WRITERS[fmt](segments)
