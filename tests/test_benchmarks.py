"""The benchmark scripts run end to end in their smoke modes (their figures belong
in benchmarks/README.md and docs/, never in assertions about speed)."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT

SHARED = ROOT.parent / "shared" / "data" / "speech"

pytestmark = pytest.mark.skipif(
    not (SHARED / "kathleen").is_dir() or not (SHARED / "vctk_p239").is_dir(),
    reason="needs the shared speech data beside the repository",
)


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_train_throughput_smoke(tmp_path):
    out = tmp_path / "table.md"
    run("benchmarks/train_throughput.py", "--smoke", "--out", str(out))
    table = out.read_text()
    assert re.search(r"\| encoder step, packed .* \| [\d.]+ \| 1\.00x \|", table)
    row = re.search(
        r"\| 1 process, 1 thread \| ([\d.]+) \| ([\d.]+) \((\d+) %\)", table
    )
    assert row and float(row.group(1)) > 0 and float(row.group(2)) > 0
    assert "fp32 peak" in table


def test_transcribe_per_file_smoke(tmp_path):
    out = tmp_path / "table.md"
    run("benchmarks/transcribe.py", "--smoke", "--write-readme", str(out))
    table = out.read_text()
    row = re.search(r"\| 1 thread \(asr's default\) \| (\d+)× \| [\d.]+ \| "
                    r"([\d.]+)× \|", table)  # fmt: skip
    assert row and int(row.group(1)) > 0 and float(row.group(2)) > 0
    assert "--smoke" in table  # the command that produced it


def test_grammar_benchmark_smoke():
    out = run("benchmarks/grammar.py", "--smoke")
    assert re.search(r"\| nine-digit codes \(10\^9\) \| 1e\+09 \| \d+ \|", out)
    assert "x real time" in out


def test_each_benchmark_rewrites_only_its_own_readme_section(tmp_path):
    """startup.py and transcribe.py write into one README: each replaces its own
    section (heading to next heading) and keeps the others, notes included."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cpuload import replace_section

    readme = tmp_path / "README.md"
    replace_section(readme, ["# Start-up", "", "old start-up"])
    replace_section(
        readme, ["# Transcription", "", "old rows", "", "## Notes", "kept?"]
    )
    replace_section(readme, ["# Start-up", "", "new start-up", ""])
    text = readme.read_text()
    assert text.index("# Start-up") < text.index("# Transcription")
    assert "new start-up" in text and "old start-up" not in text
    assert "old rows" in text and "## Notes" in text  # a ## heading stays inside
    replace_section(readme, ["# Transcription", "", "new rows"])
    assert (
        readme.read_text()
        == "# Start-up\n\nnew start-up\n\n# Transcription\n\nnew rows\n"
    )
