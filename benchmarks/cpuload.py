"""A bounded CPU hog for load-aware benchmarks: ``busy(n)`` keeps ``n`` processes
spinning on pure Python arithmetic while the block runs, and stops them when it
ends (each also stops by itself after ``limit_s``, so none outlives the benchmark).
``load_average()`` notes how busy the machine was around a measurement."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

SPIN = "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n"


@contextlib.contextmanager
def busy(processes: int, limit_s: float = 900.0):
    """Run the block beside ``processes`` spinning processes (0: none)."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", SPIN.format(limit=limit_s)])
        for _ in range(processes)
    ]
    time.sleep(0.5 if hogs else 0.0)  # let the scheduler see them
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def cpu_name() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_mhz() -> float:
    """The cores' clock as /proc/cpuinfo reports it (MHz; 0 when unknown)."""
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return float(line.split(":", 1)[1])
    return 0.0


def replace_section(path, lines: list[str]) -> None:
    """Write ``lines`` (a Markdown section whose first line is its ``# `` heading)
    into the README at ``path`` in place of the section with that heading, up to
    the next ``# `` heading; append it where there is none. Other benchmarks'
    sections stay as they are."""
    path, heading = Path(path), lines[0]
    text = path.read_text() if path.exists() else ""
    section = "\n".join(lines).rstrip("\n") + "\n"
    start = text.find(heading)
    if start < 0:
        path.write_text(text + ("\n" if text else "") + section)
        return
    end = text.find("\n# ", start + 1)
    rest = text[end + 1 :] if end >= 0 else ""
    path.write_text(text[:start] + section + ("\n" + rest if rest else ""))
