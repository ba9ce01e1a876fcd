"""The CPU thread setting (asr/core/cpu.py) reaches every entry point: the thread count
is read inside the encoder's forward pass, where the work happens."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from conftest import DATA, DIGITS, ROOT
from test_train import tiny_config

import asr
from asr import app as demo
from asr.core import cpu
from asr.inference.evaluate import cli as evaluate_cli
from asr.inference.transcribe import cli as transcribe_cli
from asr.model.encoder import Encoder
from asr.training.train import train

OTHER = 2  # a thread count that is not the default (cpu.DEFAULT_THREADS)


@pytest.fixture
def seen_threads(monkeypatch):
    """The torch thread counts the encoder ran with; restores torch's setting."""
    before = torch.get_num_threads()
    seen = []
    forward = Encoder.forward

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(Encoder, "forward", recording)
    monkeypatch.delenv(cpu.THREADS_ENV, raising=False)
    yield seen
    torch.set_num_threads(before)


def test_resolve_threads_argument_then_environment_then_default(monkeypatch):
    monkeypatch.delenv(cpu.THREADS_ENV, raising=False)
    assert cpu.resolve_threads() == cpu.DEFAULT_THREADS == 1
    monkeypatch.setenv(cpu.THREADS_ENV, "3")
    assert cpu.resolve_threads() == 3
    assert cpu.resolve_threads(2) == 2
    monkeypatch.setenv(cpu.THREADS_ENV, "many")
    with pytest.raises(ValueError, match="ASR_THREADS"):
        cpu.resolve_threads()
    with pytest.raises(ValueError, match="1 or more"):
        cpu.resolve_threads(-2)


def test_omp_threads_sleep_when_idle_unless_the_user_chose():
    """asr sets OMP_WAIT_POLICY=PASSIVE before torch loads; a user's value wins."""
    code = "import os, asr; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "ACTIVE"


def test_python_api_uses_the_argument_the_environment_or_one(
    seen_threads, tiny_checkpoint, monkeypatch
):
    wave = np.random.default_rng(0).normal(0, 0.3, 16000).astype(np.float32)
    torch.set_num_threads(3)
    asr.load_model(tiny_checkpoint).transcribe(wave, decoder="greedy")
    asr.load_model(tiny_checkpoint, threads=OTHER).transcribe(wave, decoder="greedy")
    monkeypatch.setenv(cpu.THREADS_ENV, str(OTHER))
    model = asr.load_model(tiny_checkpoint)
    model.transcribe(wave, decoder="greedy")
    assert (
        seen_threads == [cpu.DEFAULT_THREADS, OTHER, OTHER] and model.threads == OTHER
    )


def test_streaming_recogniser_applies_the_model_setting(seen_threads, tiny_checkpoint):
    model = asr.load_model(tiny_checkpoint, threads=OTHER)
    torch.set_num_threads(3)
    recognizer = asr.StreamingRecognizer(model, decoder="greedy")
    rng = np.random.default_rng(0)
    for _ in range(10):  # loud noise: the VAD opens a segment and decodes it
        recognizer.accept(rng.normal(0, 0.3, 4800).astype(np.float32), 48000)
    recognizer.flush()
    assert seen_threads and set(seen_threads) == {OTHER}


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
def test_cli_threads_flag(seen_threads, tiny_checkpoint, tmp_path, command, capsys):
    wav = str(DATA / next(iter(DIGITS)))
    if command == "transcribe":
        transcribe_cli([wav, "--model", str(tiny_checkpoint), "--threads", str(OTHER)])
    else:
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"audio": wav, "text": "two", "duration": 1.0}))
        evaluate_cli([str(manifest), "--model", str(tiny_checkpoint), "--threads",
                      str(OTHER)])  # fmt: skip
    assert seen_threads and set(seen_threads) == {OTHER}


def test_cli_refuses_a_bad_thread_count(tiny_checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        transcribe_cli(["x.wav", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads: must be at least 1, not 0" in capsys.readouterr().err


def test_training_uses_its_threads_setting(seen_threads, tmp_path):
    torch.set_num_threads(3)
    train(tiny_config(tmp_path, epochs=1, dev_manifest="", threads=OTHER))
    assert seen_threads and set(seen_threads) == {OTHER}


def test_demo_loads_models_with_its_threads(seen_threads, tiny_checkpoint):
    torch.set_num_threads(3)
    model = demo.ModelCache([str(tiny_checkpoint)], threads=OTHER).get(None)
    wave = np.random.default_rng(0).normal(0, 0.3, 16000).astype(np.float32)
    model.transcribe(wave, decoder="greedy")
    assert seen_threads == [OTHER]


def test_demo_default_concurrency_never_oversubscribes_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert demo.default_concurrency(1) == 2
    assert demo.default_concurrency(2) == 1
    assert demo.default_concurrency(4) == 1
    assert demo.build_parser().parse_args([]).concurrency_limit is None


def test_demo_computes_at_most_its_concurrency_limit_at_once(tiny_checkpoint, tmp_path):
    """Three simultaneous requests to an app served with a limit of 1 never run
    together: the others wait in the queue."""
    gradio_client = pytest.importorskip("gradio_client")
    from test_demo import free_port

    cache = demo.ModelCache([str(tiny_checkpoint)])
    model = cache.get(None)
    active, peak, lock = [0], [0], threading.Lock()
    transcribe_segments = model.transcribe_segments

    def slow(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.5)
        try:
            return transcribe_segments(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    model.transcribe_segments = slow
    app = demo.build_app(cache)
    port = free_port()
    demo.serve(app, port=port, concurrency_limit=1, block=False)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        sample = gradio_client.handle_file(str(DATA / next(iter(DIGITS))))
        jobs = [client.submit(sample, api_name="/transcribe") for _ in range(3)]
        for job in jobs:
            job.result(timeout=120)
    finally:
        app.close()
    assert peak[0] == 1
