"""Regression tests for issue 27, adapt, recipe scripts and new-user stumbles: each
failed before its fix. The other items of issue 27 are in tests/test_hardening.py."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shutil
import subprocess
import sys
import warnings

import pytest
from conftest import DIGITS_MODEL, ROOT

from asr.cli import COMMANDS, main
from asr.core.options import run_script
from asr.synthesis import adapt as adapt_module
from asr.synthesis import takes
from asr.synthesis.adapt import AdaptConfig, adapt, build_parser, run

VOICES = ("espeak-ng:en-US", "espeak-ng:en-GB-x-rp", "flite:kal", "flite:slt")
needs_voices = pytest.mark.skipif(
    not shutil.which("espeak-ng") or not shutil.which("flite"),
    reason="needs espeak-ng and flite",
)


def one_error_line(err: str) -> str:
    """The one ``error:`` line of stderr (argparse prints its usage above it)."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err and len(lines[0]) < 300, err
    return lines[0]


def small_run(grammar, base, out, **overrides) -> AdaptConfig:
    values = dict(grammar=str(grammar), base=str(base), out=str(out), utterances=4,
                  heldout_voices=1, heldout_sentences=1, epochs=1, jobs=1,
                  voices=VOICES)  # fmt: skip
    return AdaptConfig(**{**values, **overrides})


def files_of(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# M5: an interrupted re-run into an earlier folder ---------------------------------


@needs_voices
def test_m5_an_interrupted_rerun_leaves_the_earlier_folder_as_it_was(
    tmp_path, tiny_checkpoint, monkeypatch
):
    grammar = tmp_path / "lights.txt"
    grammar.write_text("lights on\nlights off\n")
    out = tmp_path / "models" / "lights"
    adapt(small_run(grammar, tiny_checkpoint, out))
    before = files_of(out)
    assert "lights.pt" in before and "adapt.json" in before

    grammar.write_text("open the door\nclose the door\n")  # a new domain

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(adapt_module, "fine_tune", interrupted)
    with pytest.raises(KeyboardInterrupt):
        adapt(small_run(grammar, tiny_checkpoint, out))
    assert files_of(out) == before  # grammar, LM, decoder settings: all the old ones
    monkeypatch.undo()

    adapt(small_run(grammar, tiny_checkpoint, out))  # the re-run completes
    assert "open the door" in (out / "lights.grammar").read_text()
    assert "door" in (out / "lights.arpa").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["lights"]  # no leftovers


def test_m5_out_that_is_no_earlier_output_is_refused(tmp_path, tiny_checkpoint):
    grammar = tmp_path / "g.txt"
    grammar.write_text("lights on\n")
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="no adapt.json"):
        adapt(small_run(grammar, tiny_checkpoint, out))
    assert (out / "notes.txt").read_text() == "mine"


# M6, M10 and the range checks --------------------------------------------------------


BAD_NUMBERS = [
    ["--heldout-sentences", "0"],  # M6: ZeroDivisionError after synthesis
    ["--heldout-voices", "0"],
    ["--heldout-voices", "-1"],
    ["--epochs", "0"],
    ["--batch-size", "0"],
    ["--jobs", "0"],
    ["--utterances", "0"],
    ["--seed", "-1"],
    ["--domain-weight", "0"],
    ["--lr", "nan"],
    ["--lr", "0"],
    ["--lr", "1e999"],
    ["--vary-fraction", "1.5"],
    ["--other-fraction", "-0.1"],
    ["--other-fraction", "nan"],
    ["--out", "."],  # wrote .pt and ..arpa
    ["--out", "models/.."],
]


@pytest.mark.parametrize("flags", BAD_NUMBERS, ids=" ".join)
def test_adapt_options_are_refused_at_parse_time(flags, tmp_path, capsys):
    argv = ["adapt", "--grammar", "g.txt", "--out", str(tmp_path / "m"), *flags]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert flags[0] in one_error_line(capsys.readouterr().err)


def test_adapt_config_checks_its_numbers_too():
    with pytest.raises(ValueError, match="heldout_sentences"):
        AdaptConfig(heldout_sentences=0)
    with pytest.raises(ValueError, match="lr"):
        AdaptConfig(lr=float("nan"))


def test_m10_a_long_sentence_is_refused_before_synthesis(
    tmp_path, tiny_checkpoint, monkeypatch, capsys
):
    grammar = tmp_path / "long.txt"
    grammar.write_text("lights on\n" + "abcd " * 2000 + "\n")  # 10,000 letters

    def no_speech(*args, **kwargs):
        raise AssertionError("synthesis started")

    monkeypatch.setattr(adapt_module, "synthesize", no_speech)
    args = build_parser().parse_args(
        ["--grammar", str(grammar), "--base", str(tiny_checkpoint),
         "--out", str(tmp_path / "m"), "--voices", *VOICES]
    )  # fmt: skip
    assert run(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{grammar}: a sentence of 9999 characters; at most 400" in line
    assert "'abcd abcd" in line and len(line) - len(str(grammar)) < 150  # one line


def test_m10_a_take_too_long_is_refused(monkeypatch, tmp_path):
    take = takes.Take("hello", "espeak-ng:en-US", 1.0, 1.0, 0,
                             str(tmp_path / "t.flac"))  # fmt: skip
    minute = takes.SAMPLE_RATE * 60
    monkeypatch.setattr(takes.tts, "find_voice", lambda voice: voice)
    monkeypatch.setattr(
        takes.tts, "speak", lambda *a, **k: __import__("numpy").zeros(minute)
    )
    result = takes._make(take)
    assert isinstance(result, str) and "60 s long; at most 40" in result
    assert not (tmp_path / "t.flac").exists()


# item 5: every option of `asr adapt --help` says what it does and its default -------


def test_item5_adapt_help_documents_every_option():
    parser = build_parser()
    assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter
    text = " ".join(parser.format_help().split())  # help lines unwrapped
    for action in parser._actions:
        assert action.help and action.help.strip(), action.option_strings
        if action.default not in (argparse.SUPPRESS, None):  # required ones: none
            said = " ".join(action.help.split())
            assert f"{said} (default: {action.default})" in text, action.dest


# item 3: every recipe script fails with one line, like the asr command -----------

MISSING = "/nonexistent/missing"
SCRIPT_ARGS = {  # each script with a command line, given an input that does not exist
    "an4/prepare.py": ["--source", MISSING],
    "commands/evaluate.py": ["--data", MISSING, "--system", "ours"],
    "commands/large_grammar.py": ["--grammar", f"{MISSING}.jsgf"],
    "commands/prepare.py": ["--shared", MISSING],
    "commands/tune_unk.py": ["--data", MISSING, "--model", str(DIGITS_MODEL)],
    "commonvoice/prepare.py": ["--source", MISSING],
    "english/check_voices.py": ["--text-dir", MISSING],
    "english/evaluate.py": [f"{MISSING}.jsonl", "--model", str(DIGITS_MODEL)],
    "english/pack.py": ["--train", f"{MISSING}.jsonl"],
    "english/prepare.py": ["--shared", MISSING],
    "english/synthesize.py": ["--text-dir", MISSING],
    "english/tune_vad.py": [f"{MISSING}.jsonl", "--model", str(DIGITS_MODEL)],
    "fsdd/prepare.py": ["--source", MISSING],
    "kathleen/prepare.py": ["--source", MISSING],
    "librispeech/prepare.py": ["--source", MISSING],
    "ljspeech/prepare.py": ["--source", MISSING],
    "tedlium/prepare.py": ["--source", MISSING],
    "vctk/prepare.py": ["--source", MISSING],
    "vctk_p239/prepare.py": ["--source", MISSING],
}
OUT_FLAGS = {"--out-dir", "--out"}  # where each script would write: a tmp_path


def test_item3_every_recipe_script_is_listed():
    scripts = {
        str(p.relative_to(ROOT / "recipes"))
        for p in ROOT.glob("recipes/*/*.py")
        if 'if __name__ == "__main__":' in p.read_text()
    }
    assert scripts == set(SCRIPT_ARGS)


def _out_flag(path) -> list[str]:
    text = path.read_text()
    return next(([f, ""] for f in ("--out-dir", "--out") if f'"{f}"' in text), [])


@pytest.mark.parametrize("script", sorted(SCRIPT_ARGS))
def test_item3_recipe_script_with_a_missing_input_is_one_line(
    script, tmp_path, monkeypatch
):
    """Run as ``python recipes/...`` runs it (its ``__main__`` block), in-process."""
    if "--model" in SCRIPT_ARGS[script] and not DIGITS_MODEL.exists():
        pytest.skip("needs data/models/digits.pt")
    path = ROOT / "recipes" / script
    out = _out_flag(path)
    out[1:] = [str(tmp_path / "out")] if out else []
    monkeypatch.setattr(sys, "argv", [str(path), *SCRIPT_ARGS[script], *out])
    monkeypatch.syspath_prepend(str(path.parent))  # as python puts the script's folder
    monkeypatch.chdir(tmp_path)  # nothing is written into the repository
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(path), run_name="__main__")
    code = exit_info.value.code
    if isinstance(code, str):  # sys.exit("error: ..."): Python prints it, status 1
        err.write(code + "\n")
        code = 1
    assert code not in (0, None)
    line = one_error_line(err.getvalue())
    assert line.startswith("error: ") and "missing" in line


def test_item3_a_recipe_script_in_a_real_process(tmp_path):
    script = ROOT / "recipes" / "english" / "pack.py"
    result = subprocess.run(
        [sys.executable, str(script), "--train", f"{MISSING}.jsonl",
         "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {MISSING}.jsonl: No such file or directory"


def test_run_script_statuses(capsys):
    def fails(argv):
        raise FileNotFoundError(2, "No such file or directory", "x.jsonl")

    def interrupted(argv):
        raise KeyboardInterrupt

    assert run_script(fails) == 1
    assert capsys.readouterr().err == "error: x.jsonl: No such file or directory\n"
    assert run_script(interrupted) == 130
    assert run_script(lambda argv: {"train": 3}) == 0  # a prepare's counts
    assert run_script(lambda argv: 2) == 2
    with pytest.raises(KeyError):  # not a user's error: a bug keeps its traceback
        run_script(lambda argv: {}["x"])


# item 2 and item 8: the README stays true on a fresh clone ------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_item2_readme_prints_no_test_counts_that_go_stale():
    """It said 588 passed and 4 skipped where a fresh clone gave 593 and 10."""
    assert not re.search(r"\d+ (passed|skipped|deselected)", README)
    assert "pytest -rs" in README  # how to see the counts and skip reasons instead


def test_item2_readme_lists_every_command():
    listed = re.search(r"`asr --help` lists the commands \(([^)]*)\)", README)
    assert listed, "the README's command list"
    assert set(re.findall(r"`([\w-]+)`", listed.group(1))) == set(COMMANDS)


def test_item2_results_table_says_how_to_make_its_manifests():
    table = "\n".join(line for line in README.splitlines() if line.startswith("|"))
    rest = "\n".join(line for line in README.splitlines() if not line.startswith("|"))
    manifests = set(re.findall(r"data/(\w+)/\w+\.jsonl", table))
    assert manifests >= {"fsdd", "english"}
    for dataset in manifests:  # a recipe command beside the table writes them
        assert re.search(rf"recipes/{dataset}/(prepare\.py|run\.sh --stage)", rest)
    for name in re.findall(r"data/english/(\w+\.jsonl)", table):
        assert name in rest, name  # each English manifest named beside the table


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_item8_readme_output_dir_example_is_ignored_by_git():
    folder = re.search(r"--output-dir (\S+)", README).group(1)
    written = f"{folder.rstrip('/')}/arctic_a0001.txt"
    result = subprocess.run(["git", "check-ignore", "-q", written], cwd=ROOT)
    assert result.returncode == 0, f"{written} would be left untracked"


# item 7: a new warning stands out ---------------------------------------------------


def test_item7_a_deprecation_in_the_project_fails_the_tests():
    """pyproject's filterwarnings turns one from an asr module into an error."""
    code = compile("import warnings\nwarnings.warn('old', DeprecationWarning)",
                   "asr/example.py", "exec")  # fmt: skip
    with pytest.raises(DeprecationWarning):
        exec(code, {"__name__": "asr.example"})


def test_item7_export_silences_only_the_notes_it_knows(tmp_path, tiny_checkpoint):
    """It ignored every warning; now a new one shows, and the known ones do not."""
    pytest.importorskip("onnxruntime")
    from asr.inference import export
    from asr.inference.transcribe import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export.export_onnx(load_model(tiny_checkpoint), tmp_path / "m.onnx")
        assert [str(w.message) for w in caught] == []
        export._ignore_export_notes()
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something new"]
