import json

import pytest

from asr.inference.output import FORMATS, Segment, format_timestamp, render

SEGMENTS = [Segment(0.0, 1.25, "two four"), Segment(3661.5, 3662.0, "six"),
            Segment(3700.0, 3700.5, "")]  # fmt: skip


@pytest.mark.parametrize(("seconds", "kwargs", "expected"), [
    (3661.5, {}, "01:01:01,500"),  # 1 h + 1 min + 1.5 s
    (0.0, {}, "00:00:00,000"),
    (59.9996, {}, "00:01:00,000"),  # rounds to the nearest millisecond, carrying
    (1.0005, {"decimal": "."}, "00:00:01.000"),  # 1000.5 ms rounds half to even
    (62.0004, {"decimal": ".", "hours": False}, "01:02.000"),
    (36000.25, {"decimal": "."}, "10:00:00.250"),
    (-0.1, {}, "00:00:00,000"),  # never negative
])  # fmt: skip
def test_format_timestamp(seconds, kwargs, expected):
    assert format_timestamp(seconds, **kwargs) == expected


def test_srt_is_numbered_cues_without_empty_text():
    assert render(SEGMENTS, "srt") == (
        "1\n00:00:00,000 --> 00:00:01,250\ntwo four\n\n"
        "2\n01:01:01,500 --> 01:01:02,000\nsix\n"
    )


def test_vtt_has_header_and_dot_milliseconds():
    assert render(SEGMENTS, "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.250\ntwo four\n\n"
        "01:01:01.500 --> 01:01:02.000\nsix\n"
    )


def test_tsv_in_milliseconds_and_txt_on_one_line():
    assert render(SEGMENTS, "tsv") == (
        "start\tend\ttext\n0\t1250\ttwo four\n3661500\t3662000\tsix\n"
        "3700000\t3700500\t\n"
    )
    assert render(SEGMENTS, "txt") == "two four six\n"


def test_json_round_trips_segments():
    document = json.loads(render(SEGMENTS, "json", audio="a.wav"))
    assert document["audio"] == "a.wav" and document["text"] == "two four six"
    assert [Segment(**s) for s in document["segments"]] == SEGMENTS


def test_unknown_format_is_refused():
    assert "srt" in FORMATS
    with pytest.raises(ValueError, match="unknown output format"):
        render(SEGMENTS, "docx")
