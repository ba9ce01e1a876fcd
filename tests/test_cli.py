import json
import subprocess
import sys

import pytest
from conftest import DATA, DIGITS, DIGITS_MODEL, ROOT

from asr.cli import main


@pytest.mark.parametrize(
    "command", [[], ["transcribe"], ["train"], ["evaluate"], ["average"]]
)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: asr" in capsys.readouterr().out


def test_train_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ["--max-batch-seconds", "--rnn-type", "--rnn-nonlinearity",
                 "--hidden-size", "--deltas", "--warmup-steps", "--resume",
                 "--speed-factors", "--noise-snr-db", "--telephone-prob",
                 "--freq-masks", "--time-masks", "--precision", "--accum-steps",
                 "--save-every-steps", "--keep-last", "--average-last",
                 "--max-failed-fraction"]:  # fmt: skip
        assert flag in out


def test_transcribe_goes_on_after_a_bad_file(tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    good = DATA / "2_jackson_1.wav"
    code = main(["transcribe", "--model", str(tiny_checkpoint), str(bad), str(good)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith(f"{good}\t")  # the good file was still transcribed
    assert str(bad) in err and "2 files, 1 failed" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_transcribe_bad_checkpoint(tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert (
        main(["transcribe", "--model", str(broken), str(DATA / "2_jackson_1.wav")]) == 2
    )
    assert "error:" in capsys.readouterr().err


def test_evaluate_prints_scores(tiny_checkpoint, tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(
        json.dumps({"audio": str(DATA / n), "text": t, "duration": 0.5}) + "\n"
        for n, t in DIGITS.items()
    ))  # fmt: skip
    report = tmp_path / "report.json"
    assert main(["evaluate", str(manifest), "--model", str(tiny_checkpoint),
                 "--output", str(report)]) == 0  # fmt: skip
    assert "WER" in capsys.readouterr().out
    scores = json.loads(report.read_text())
    assert scores["utterances"] == 4 and len(scores["results"]) == 4


def test_python_dash_m_is_the_same_program():
    result = subprocess.run(
        [sys.executable, "-m", "asr", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and "transcribe" in result.stdout


def test_the_program_exits_fast_but_keeps_its_output_and_status(tmp_path):
    """``entry`` skips the interpreter's teardown (os._exit): what was printed to a
    file or pipe still arrives whole, exit handlers still run, the status is
    main's, and usage errors and --version keep argparse's statuses."""
    probe = tmp_path / "handler-ran"
    script = (
        "import atexit, pathlib, sys; from asr.cli import entry; "
        f"atexit.register(pathlib.Path({str(probe)!r}).write_text, 'yes'); "
        "sys.argv = ['asr', *sys.argv[1:]]; entry()"
    )

    def asr(*args):
        return subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT,
                              capture_output=True, text=True)  # fmt: skip

    wav = str(DATA / "2_jackson_1.wav")
    done = asr("transcribe", wav, "--model", str(DIGITS_MODEL), "--greedy",
               "--output-format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == "two"  # the whole JSON arrived
    assert probe.read_text() == "yes"
    assert asr("transcribe", str(tmp_path / "none.wav")).returncode == 1
    assert asr("transcribe", "--no-such-flag", wav).returncode == 2
    version = asr("--version")
    assert version.returncode == 0 and version.stdout.startswith("asr ")


def test_every_train_flag_has_help():
    from asr.training.train import build_parser

    for action in build_parser()._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 5, action.option_strings
