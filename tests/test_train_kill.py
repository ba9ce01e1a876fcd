"""kill -9 during training, then --resume: the last good checkpoint always loads and
training goes on from the step it saved. Real processes, real SIGKILL."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import DATA, DIGITS, ROOT

from asr.audio.io import load_audio
from asr.model.checkpoint import CheckpointError, load_checkpoint

EPOCHS, COPIES = 3, 3  # 4 digits x 3 copies = 12 one-utterance batches an epoch
TOTAL_STEPS = EPOCHS * len(DIGITS) * COPIES


def command(tmp_path, resume: bool) -> list[str]:
    manifest = tmp_path / "train.jsonl"
    if not manifest.exists():
        with manifest.open("w") as f:
            for name, text in list(DIGITS.items()) * COPIES:
                duration = len(load_audio(DATA / name)) / 16000
                f.write(json.dumps({"audio": str(DATA / name), "text": text,
                                    "duration": duration}) + "\n")  # fmt: skip
    return [
        sys.executable, "-m", "asr", "train", "--train-manifest", str(manifest),
        "--out-dir", str(tmp_path / "run"), "--epochs", str(EPOCHS),
        "--batch-size", "1",
        "--save-every-steps", "1", "--num-workers", "0", "--warmup-steps", "2",
        "--conv-channels", "4", "--hidden-size", "16", "--num-layers", "1",
        "--dropout", "0.1", "--time-masks", "1", *(["--resume"] if resume else []),
    ]  # fmt: skip


def start(tmp_path, resume: bool, log_name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = (tmp_path / log_name).open("w")
    return subprocess.Popen(command(tmp_path, resume), stdout=log, stderr=log, env=env)


def wait_for_step(tmp_path, proc, beyond: int, timeout_s: float = 180) -> dict:
    """Poll last.pt (it must load every time) until its step passes ``beyond``."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert proc.poll() is None, (tmp_path / "log").read_text()[-2000:]
        if (tmp_path / "run" / "last.pt").exists():
            state = load_checkpoint(tmp_path / "run" / "last.pt")
            if state["step"] > beyond:
                return state
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no checkpoint past step {beyond} within {timeout_s} s")


def kill9(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def finish(tmp_path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command(tmp_path, resume=True), capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    final = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (final["epoch"], final["step"]) == (EPOCHS, TOTAL_STEPS)
    with (tmp_path / "run" / "metrics.csv").open() as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == list(range(1, EPOCHS + 1))  # every epoch logged once
    return done.stderr


def test_kill_9_mid_epoch_then_resume_continues_from_the_saved_step(tmp_path):
    proc = start(tmp_path, resume=False, log_name="log")
    wait_for_step(tmp_path, proc, beyond=2)
    kill9(proc)
    saved = load_checkpoint(tmp_path / "run" / "last.pt")  # the last good one loads
    assert saved["step"] >= 3 and "optimizer" in saved and "rng" in saved
    log = finish(tmp_path)
    expected = (f"resumed from epoch {saved['epoch'] + 1}, batch {saved['batch']}, "
                f"step {saved['step']}")  # fmt: skip
    assert expected in log
    assert not list((tmp_path / "run").glob(".*.tmp"))  # torn temporaries cleaned up


@pytest.mark.slow  # five process starts: about 30 s idle, 90 s on a busy 2-core box
def test_kill_9_at_random_points_several_times_then_finish(tmp_path):
    rng, step = random.Random(os.getpid()), 0
    for attempt in range(3):
        proc = start(tmp_path, resume=attempt > 0, log_name="log")
        wait_for_step(tmp_path, proc, beyond=step)
        time.sleep(rng.uniform(0.0, 1.0))  # somewhere in a step, a save or a fsync
        kill9(proc)
        try:
            state = load_checkpoint(tmp_path / "run" / "last.pt")
        except CheckpointError as error:
            pytest.fail(f"kill {attempt + 1}: the last checkpoint is unusable: {error}")
        assert state["step"] > step  # progress survives every kill
        step = state["step"]
    finish(tmp_path)
