import json
import re
import shutil

import pytest
from conftest import DATA, DIGITS, KATHLEEN

from asr.cli import main
from asr.inference.batch import collect_inputs
from asr.inference.output import Segment, to_srt

SUMMARY = re.compile(
    r"(\d+) files?, (\d+) failed, [\d.]+ [sh] of audio in [\d.]+ s "
    r"\(RTF (?:[\d.]+|n/a)\)"
)


@pytest.fixture
def corpus(tmp_path):
    """tmp/in/a/<digit wavs>, tmp/in/b/arctic.flac, tmp/in/notes.txt"""
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for name in DIGITS:
        shutil.copy(DATA / name, root / "a" / name)
    shutil.copy(KATHLEEN[0], root / "b" / KATHLEEN[0].name)
    (root / "notes.txt").write_text("not audio")
    return root


def test_collect_inputs_expands_dirs_and_globs_once(corpus):
    jobs, errors = collect_inputs(
        [str(corpus), str(corpus / "a" / "*.wav"), str(corpus / "**" / "*.flac"),
         str(corpus / "none*.wav")]
    )  # fmt: skip
    assert len(jobs) == 5  # the globs name files the directory already gave
    assert {str(j.name) for j in jobs} == {
        *(f"a/{n[:-4]}" for n in DIGITS),
        f"b/{KATHLEEN[0].stem}",
    }
    assert errors == [f"{corpus / 'none*.wav'}: no files match"]


def test_output_dir_gets_one_file_per_input_and_format(
    tiny_checkpoint, corpus, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(
        [
            "transcribe",
            "--model",
            str(tiny_checkpoint),
            str(corpus),
            "--output-format",
            "txt,srt,vtt,json,tsv",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    written = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    )
    assert len(written) == 5 * 5 and "b/arctic_a0001.srt" in written
    document = json.loads((out / "b" / "arctic_a0001.json").read_text())
    assert document["audio"].endswith("arctic_a0001.flac")
    assert all(0 <= s["start"] < s["end"] <= 3.3 for s in document["segments"])
    vtt = (out / "b" / "arctic_a0001.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    match = SUMMARY.search(capsys.readouterr().err)
    assert match and match.groups() == ("5", "0")


def test_bad_files_are_reported_skipped_and_fail_the_run(
    tiny_checkpoint, corpus, tmp_path, capsys
):
    bad = corpus / "a" / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "out"
    code = main(["transcribe", "--model", str(tiny_checkpoint), str(corpus / "a"),
                 str(tmp_path / "missing*.flac"),
                 "--output-dir", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert len(list(out.glob("*.txt"))) == 4  # the good files were all written
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and any("broken.wav" in e for e in errors)
    assert SUMMARY.search(err).groups() == ("6", "2")


def test_stdout_formats(tiny_checkpoint, capsys):
    wav = str(DATA / "2_jackson_1.wav")
    base = ["transcribe", "--model", str(tiny_checkpoint), wav]
    assert main([*base, "--output-format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    segments = [Segment(**s) for s in document["segments"]]
    assert document["audio"] == wav and segments and segments[0].end <= 0.56
    assert main([*base, "--output-format", "srt"]) == 0
    assert capsys.readouterr().out == to_srt(segments)
    other = str(DATA / "4_theo_2.wav")
    assert main([*base, wav, other, "--output-format", "json"]) == 0  # wav twice
    lines = capsys.readouterr().out.splitlines()  # JSON lines, duplicates dropped
    assert [json.loads(line)["audio"] for line in lines] == [wav, other]


def test_several_formats_need_an_output_dir(tiny_checkpoint, capsys):
    code = main(["transcribe", "--model", str(tiny_checkpoint),
                 str(DATA / "2_jackson_1.wav"),
                 "--output-format", "srt,vtt"])  # fmt: skip
    assert code == 2 and "--output-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", str(DATA / "2_jackson_1.wav"), "--output-format", "docx"])
    assert exit_info.value.code == 2
