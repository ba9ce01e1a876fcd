"""The README's commands work as written: its `asr ...` lines (on committed
recordings) and its Python lines; its links point at files that exist."""

import contextlib
import io
import re
import shlex

import pytest
from conftest import ROOT

from asr.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def asr_commands() -> list[str]:
    """The `asr ...` lines of the README's Transcribe block, comments dropped."""
    block = next(b for b in code_blocks("bash") if "asr transcribe" in b)
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("asr ")]


def test_readme_test_command_is_make_test():
    assert "make test    #" in README  # CI runs the test command the README gives


@pytest.mark.parametrize("command", asr_commands())
def test_readme_asr_command_runs(command, tmp_path, monkeypatch, capsys):
    if "--device cuda" in command:
        pytest.importorskip("torch").cuda.is_available() or pytest.skip("no CUDA")
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ASR_MODEL", raising=False)
    args = shlex.split(command)[1:]
    args = [str(p) for p in _expand(args)]
    if "--output-dir" in args:
        args[args.index("--output-dir") + 1] = str(tmp_path / "out")
    assert main(args) == 0, command
    out = capsys.readouterr().out
    if "--output-dir" in args:
        assert len(list((tmp_path / "out").iterdir())) == 5  # `all` formats
    else:
        assert out.strip(), command


def _expand(args):
    for arg in args:  # the shell would expand the glob; asr also does
        yield from sorted(ROOT.glob(arg)) if "*" in arg else [arg]


def test_readme_python_lines_print_what_they_say(monkeypatch):
    monkeypatch.chdir(ROOT)
    block = next(b for b in code_blocks("python") if "load_model" in b)
    said = re.search(r"print\(.*\)\s+# (\w+)", block).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    assert out.getvalue().strip() == said


def test_readme_links_exist():
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target
