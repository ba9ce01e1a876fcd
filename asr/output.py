"""Transcription results and the file formats they are written in: plain text, JSON,
SubRip (SRT), WebVTT and tab-separated values (TSV, times in milliseconds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float  # seconds from the start of the audio
    text: str  # transcript of the segment (may be empty)
    words: tuple = ()  # WordTiming per word, times from the start of the audio, if asked


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
    """The transcript on one line."""
    return " ".join(s.text for s in segments if s.text) + "\n"


def to_json(segments: list[Segment], audio: str | None = None) -> str:
    """{"audio": ..., "text": ..., "segments": [{"start", "end", "text"}, ...]}"""
    document = {
        "audio": audio,
        "text": to_txt(segments).strip(),
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
        f"{i}\n{format_timestamp(s.start)} --> {format_timestamp(s.end)}\n{s.text}\n"
        for i, s in enumerate(_spoken(segments), start=1)
    ]
    return "\n".join(cues)


def to_vtt(segments: list[Segment]) -> str:
    """WebVTT: a "WEBVTT" header, then "HH:MM:SS.mmm --> HH:MM:SS.mmm" cues."""
    cues = [
        f"{format_timestamp(s.start, '.')} --> {format_timestamp(s.end, '.')}\n{s.text}\n"
        for s in _spoken(segments)
    ]
    return "\n".join(["WEBVTT\n", *cues])


def to_tsv(segments: list[Segment]) -> str:
    """start<TAB>end<TAB>text with integer milliseconds, under a header line."""
    rows = [f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.text}" for s in segments]
    return "\n".join(["start\tend\ttext", *rows]) + "\n"


def _spoken(segments: list[Segment]) -> list[Segment]:
    return [s for s in segments if s.text]  # a subtitle cue needs text


WRITERS: dict[str, Callable[[list[Segment]], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
    "tsv": to_tsv,
}
FORMATS = tuple(WRITERS)  # every --output-format


def render(segments: list[Segment], fmt: str, audio: str | None = None) -> str:
    """The document for ``segments`` in format ``fmt`` (one of FORMATS); ``audio``
    names the source file in JSON."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    return to_json(segments, audio) if fmt == "json" else WRITERS[fmt](segments)
