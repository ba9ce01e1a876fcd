"""Reliability: one matrix of bad and unusual inputs through every entry point
(``load_audio``, ``ASRModel.transcribe``, the ``asr transcribe`` CLI, the streaming
recognizer, the demo's File callback), a hypothesis property test of the loader and
the frontend, and the demo under load (concurrent gradio_client requests on
loopback, latency percentiles) and abuse (default host, path-like hotwords).

Every input either gives a clear error that names the file, or a correct result;
pytest-timeout makes sure nothing can hang.
"""

import builtins
import inspect
import io
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, DIGIT_WORDS, DIGITS_MODEL, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asr
from asr import app as demo
from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import AudioError, load_audio, prepare_audio, resampling_rate
from asr.cli import main

pytestmark = pytest.mark.timeout(120)  # per test: nothing may hang

RATE = asr.SAMPLE_RATE
SPEECH = DATA / "2_jackson_1.wav"  # "two"
LONG_S = 600  # "very long": ten minutes
LONG_BUDGET_S = 60  # ... must load and transcribe within this (typically a few s)


# -- the inputs ----------------------------------------------------------------------
# Each file case writes one file into a folder and returns its path; ``ok`` says
# whether a result (True) or a clear AudioError (False) is expected.


def _speech() -> np.ndarray:
    return load_audio(SPEECH)


def _resampled(rate: int) -> np.ndarray:
    return prepare_audio(_speech(), RATE, rate)


def _write(folder: Path, name: str, samples, rate=RATE, **kwargs) -> Path:
    path = folder / name
    sf.write(path, samples, rate, **kwargs)
    return path


def _bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _long(folder: Path) -> Path:
    """Ten minutes: silence with a 1 s 440 Hz tone every 30 s, 16-bit."""
    path = folder / "long.wav"
    t = np.arange(RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", RATE, 1, "PCM_16") as out:
        for _ in range(LONG_S // 30):
            out.write(np.zeros(29 * RATE, np.int16))
            out.write(tone)
    return path


def _nonfinite(folder: Path, name: str, value: float) -> Path:
    samples = _speech().copy()
    samples[100:110] = value
    return _write(folder, name, samples, subtype="FLOAT")


FILE_CASES = {  # name: (writer(folder) -> path, ok)
    "empty file": (lambda d: _bytes(d, "empty.wav", b""), False),
    "zero-length audio": (
        lambda d: _write(d, "zero.wav", np.zeros(0, np.int16)),
        False,
    ),
    "truncated header": (
        lambda d: _bytes(d, "trunc.wav", SPEECH.read_bytes()[:30]),
        False,
    ),
    "random bytes .wav": (
        lambda d: _bytes(d, "random.wav", np.random.default_rng(0).bytes(4096)),
        False,
    ),
    "text file": (lambda d: _bytes(d, "notes.txt", b"not audio\n" * 50), False),
    "NaN samples": (lambda d: _nonfinite(d, "nan.wav", np.nan), False),
    "infinite samples": (lambda d: _nonfinite(d, "inf.wav", np.inf), False),
    "missing file": (lambda d: d / "missing.wav", False),
    "directory": (lambda d: (d / "folder.wav").mkdir() or d / "folder.wav", False),
    "single sample": (
        lambda d: _write(d, "one.wav", np.array([0.5], np.float32)),
        True,
    ),
    "8-bit": (lambda d: _write(d, "u8.wav", _speech(), subtype="PCM_U8"), True),
    "24-bit": (lambda d: _write(d, "s24.wav", _speech(), subtype="PCM_24"), True),
    "32-bit float": (lambda d: _write(d, "f32.wav", _speech(), subtype="FLOAT"), True),
    "8 kHz": (lambda d: _write(d, "8k.wav", _resampled(8000), 8000), True),
    "2 channels 44.1 kHz": (
        lambda d: _write(d, "st.wav", np.stack([_resampled(44100)] * 2, 1), 44100),
        True,
    ),
    "8 channels 192 kHz": (
        lambda d: _write(d, "8ch.wav", np.stack([_resampled(192000)] * 8, 1), 192000),
        True,
    ),
    "odd rate 44101 Hz": (
        lambda d: _write(d, "odd.wav", _resampled(44100), 44101),
        True,
    ),
    "flac 48 kHz": (lambda d: _write(d, "s.flac", _resampled(48000), 48000), True),
    "clipped": (
        lambda d: _write(
            d, "clip.wav", np.clip(_speech() * 20, -1, 1), subtype="PCM_16"
        ),
        True,
    ),
    "amplitude 1e20 float": (
        lambda d: _write(d, "huge.wav", _speech() * 1e20, subtype="FLOAT"),
        False,
    ),
    "over-range float": (
        lambda d: _write(d, "hot.wav", _speech() * 8, subtype="FLOAT"),
        True,
    ),
    "silence": (lambda d: _write(d, "silence.wav", np.zeros(2 * RATE, np.int16)), True),
    "unicode and spaces in path": (
        lambda d: Path(shutil.copy(SPEECH, d / "ünï cödé 数字 — take 2.wav")),
        True,
    ),
    "very long (10 min)": (_long, True),
}
SPEECH_CASES = {"8-bit", "24-bit", "32-bit float", "8 kHz", "2 channels 44.1 kHz",
                "8 channels 192 kHz", "flac 48 kHz", "odd rate 44101 Hz",
                "unicode and spaces in path"}  # fmt: skip

ARRAY_CASES = {  # name: (samples, rate, ok)
    "empty array": (np.zeros(0, np.float32), RATE, False),
    "NaN array": (np.array([0.1, np.nan, 0.2] * 1000, np.float32), RATE, False),
    "inf array": (np.array([0.1, -np.inf] * 1000, np.float32), RATE, False),
    "3-D array": (np.zeros((100, 2, 2), np.float32), RATE, False),
    "rate 0 Hz": (np.zeros(1600, np.float32), 0, False),
    "odd rate 199999 Hz": (np.zeros(20000, np.float32) + 0.01, 199_999, True),
    "float amplitude 1e20": (
        np.random.default_rng(0).standard_normal(8000) * 1e20,
        RATE,
        False,
    ),
    "int16 values as float": (np.full(8000, 32767.0, np.float32), RATE, True),
    "single sample array": (np.array([0.25], np.float32), RATE, True),
    "int16 (N, 8) at 192 kHz": (np.zeros((19200, 8), np.int16) + 100, 192000, True),
    "uint8": (np.full(8000, 128, np.uint8), 8000, True),
    "int32": (np.arange(16000, dtype=np.int32) * 1000, RATE, True),
    "float64 speech": (None, RATE, True),  # filled in by _array_case
    "denormal": (np.full(16000, 1e-40, np.float32), RATE, True),
}


def _array_case(name: str):
    samples, rate, ok = ARRAY_CASES[name]
    if samples is None:
        samples = _speech().astype(np.float64)
    return samples, rate, ok


# -- the entry points ----------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The shipped digits model (data/models/digits.pt) when present, so that
    recognised words can be checked, else a tiny random one."""
    if DIGITS_MODEL.exists():
        return DIGITS_MODEL
    from conftest import TINY

    from asr.core.text import CharTokenizer
    from asr.model.checkpoint import model_state
    from asr.model.encoder import Encoder
    from asr.training.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(
        path, model_state(Encoder(TINY), FrontendConfig(), CharTokenizer().vocab)
    )
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    return asr.load_model(checkpoint)


@pytest.fixture(scope="module")
def shipped(checkpoint) -> bool:
    return checkpoint == DIGITS_MODEL


def _check_error(error: Exception, path: Path) -> None:
    message = str(error)
    assert str(path) in message and len(message.splitlines()) == 1, message


def _check_result(case: str, text, shipped: bool) -> None:
    assert isinstance(text, str) and text == " ".join(text.split())
    if case in SPEECH_CASES and shipped:
        assert text == "two"  # every encoding of the same take reads the same
    if case == "silence":
        assert text == ""


def run_load_audio(case, path, ok, env, capsys):
    if not ok:
        with pytest.raises(AudioError) as caught:
            load_audio(path)
        return _check_error(caught.value, path)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
    if case in SPEECH_CASES:  # same take: same length and shape at 16 kHz
        ref = _speech()
        assert abs(len(wave) - len(ref)) <= 2
        n = min(len(wave), len(ref))
        assert np.corrcoef(wave[:n], ref[:n])[0, 1] > 0.95


def run_api(case, path, ok, env, capsys):
    model, shipped = env.model, env.shipped
    if not ok:
        with pytest.raises(AudioError) as caught:
            model.transcribe(path)
        return _check_error(caught.value, path)
    _check_result(case, model.transcribe(path), shipped)


def run_cli(case, path, ok, env, capsys):
    """One case among two good files: the good ones are printed, the bad one gets
    one ``error:`` line naming it, and the exit status says whether any failed."""
    shipped = env.shipped
    goods = [str(DATA / "4_theo_2.wav"), str(DATA / "6_lucas_0.wav")]
    capsys.readouterr()
    code = main(
        ["transcribe", "--model", str(env.checkpoint), goods[0], str(path), goods[1]]
    )
    out, err = capsys.readouterr()
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    for good in goods:
        assert good in lines
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if not ok:
        assert code == 1 and len(errors) == 1 and str(path) in errors[0], err
        assert str(path) not in lines
        return
    assert code == 0 and not errors, err
    _check_result(case, lines[str(path)], shipped)
    if shipped:
        assert [lines[g] for g in goods] == ["four", "six"]


def run_demo(case, path, ok, env, capsys):
    model, shipped = env.model, env.shipped
    cache = demo.ModelCache(["model"])
    cache.models["model"] = model
    transcribe = demo.make_transcriber(cache, max_seconds=LONG_S + 1)
    if not ok:
        with pytest.raises(gr.Error) as caught:
            transcribe(str(path))
        assert caught.value.message.startswith("Cannot read that audio:")
        return
    with warnings.catch_warnings(record=True) as warned:  # gr.Warning, outside a page
        warnings.simplefilter("always")
        text, rows, files, wave = transcribe(str(path))
    said = [str(w.message) for w in warned]
    assert ("No speech recognised: is the recording silent?" in said) == (
        text == "(no speech recognised)"
    )
    assert all(Path(f).exists() for f in files) and np.isfinite(wave).all()
    if case in ("silence", "single sample") or (
        case == "very long (10 min)" and not rows
    ):
        assert text == "(no speech recognised)" and rows == []
    else:
        _check_result(case, text, shipped)


ENTRY_POINTS = {"load_audio": run_load_audio, "api": run_api, "cli": run_cli,
                "demo": run_demo}  # fmt: skip


def run_array_api(name, model, shipped):
    samples, rate, ok = _array_case(name)
    if not ok:
        with pytest.raises(AudioError, match="audio|samples|rate"):
            model.transcribe(samples, rate)
        return
    text = model.transcribe(samples, rate)
    assert isinstance(text, str)
    if name == "float64 speech" and shipped:
        assert text == "two"


def run_array_stream(name, model, shipped):
    samples, rate, ok = _array_case(name)
    recognizer = asr.StreamingRecognizer(model)
    if name == "empty array":  # an empty chunk is no error in a stream: no events
        assert recognizer.accept(samples, rate) + recognizer.flush() == []
        return
    if not ok:
        with pytest.raises(AudioError, match="NaN|expected|rate|beyond"):
            recognizer.accept(samples, rate)
        recognizer.flush()  # the recognizer survives the bad chunk
        return
    step = max(1, len(samples) // 4)
    events = []
    for i in range(0, len(samples), step):  # in chunks, as a microphone sends them
        events += recognizer.accept(samples[i : i + step], rate)
    events += recognizer.flush()
    finals = [e.text for e in events if isinstance(e, asr.Final)]
    assert all(isinstance(t, str) for t in finals)
    if name == "float64 speech" and shipped:
        assert " ".join(t for t in finals if t) == "two"


MATRIX = [(case, entry) for case in FILE_CASES for entry in ENTRY_POINTS] + [
    (case, entry) for case in ARRAY_CASES for entry in ("api (array)", "stream")
]


@pytest.mark.parametrize(("case", "entry"), MATRIX)
def test_input_matrix(case, entry, tmp_path, checkpoint, model, shipped, capsys):
    if entry == "api (array)":
        return run_array_api(case, model, shipped)
    if entry == "stream":
        return run_array_stream(case, model, shipped)
    writer, ok = FILE_CASES[case]
    folder = tmp_path / "in put ü"  # a space and a non-ASCII letter in every path
    folder.mkdir()
    path = writer(folder)
    started = time.monotonic()
    env = SimpleNamespace(model=model, shipped=shipped, checkpoint=checkpoint)
    ENTRY_POINTS[entry](case, path, ok, env, capsys)
    assert time.monotonic() - started < LONG_BUDGET_S  # bounded, even for 10 minutes


# -- property test of the loader and the frontend --------------------------------------

DTYPES = ["int8", "uint8", "int16", "int32", "float32", "float64"]


@st.composite
def waveforms(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.integers(1, 4000))
    channels = draw(st.sampled_from([None, 1, 2, 8]))
    shape = (n,) if channels is None else (n, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        samples = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    else:
        scale = draw(
            st.sampled_from([0.0, 1e-40, 1e-20, 1e-3, 1.0, 8.0, 1e4, 1e5, 1e8, 1e20])
        )
        samples = (rng.standard_normal(shape) * scale).astype(dtype)
    rate = draw(st.integers(1000, 200_000))
    poison = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    mono = samples.astype(np.float32).mean(axis=1) if samples.ndim == 2 else samples
    if dtype.kind == "f" and np.abs(mono).max(initial=0) > asr.audio.io.MAX_AMPLITUDE:
        poison = "amplitude"
    if poison not in (None, "amplitude") and dtype.kind == "f":
        samples.flat[draw(st.integers(0, samples.size - 1))] = poison
    elif poison != "amplitude":
        poison = None
    return samples, rate, poison


FRONTEND = Frontend(FrontendConfig())


@pytest.mark.timeout(60)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(waveforms())
def test_prepare_audio_and_frontend_properties(case):
    samples, rate, poison = case
    if poison is not None:
        with pytest.raises(AudioError, match="NaN or infinite|beyond the plausible"):
            prepare_audio(samples, rate)
        return
    wave = prepare_audio(samples, rate)
    expected = int(np.ceil(len(samples) * RATE / resampling_rate(rate)))
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - expected) <= 1 and np.isfinite(wave).all()
    lens = torch.tensor([len(wave), max(1, len(wave) // 2)])
    batch = torch.zeros(2, len(wave))
    batch[0] = torch.from_numpy(wave)
    batch[1, : lens[1]] = torch.from_numpy(wave[: lens[1]])
    feats, feat_lens = FRONTEND(batch, lens)
    assert feat_lens.tolist() == [int(n) // 160 + 1 for n in lens]
    assert feats.shape == (2, int(feat_lens.max()), FrontendConfig().n_features)
    assert torch.isfinite(feats).all()
    assert (feats[1, feat_lens[1] :] == 0).all()  # padding frames are zero


# -- the demo under load and abuse -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOAD_REQUESTS = 24
LOAD_CLIENTS = 8


@pytest.mark.timeout(300)
def test_load_concurrent_clients_get_correct_transcripts(tmp_path):
    """24 requests from 8 gradio_client threads on loopback against the queued app
    (concurrency limit 2): every answer equals the single-request answer for that
    file; p50/p90/max latency printed and written to tmp_path/load.json."""
    gradio_client = pytest.importorskip("gradio_client")
    checkpoint = DIGITS_MODEL
    if not checkpoint.exists():
        pytest.skip(f"no digits model at {checkpoint}")
    files = sorted((ROOT / "data" / "samples").glob("*.wav")) + sorted(
        DATA.glob("*.wav")
    )
    cache = demo.ModelCache([str(checkpoint)])
    app = demo.build_app(cache)
    port = free_port()
    demo.serve(app, host="127.0.0.1", port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        client = gradio_client.Client(url, verbose=False)
        alone = {
            f: client.predict(
                gradio_client.handle_file(str(f)), api_name="/transcribe"
            )[0]
            for f in files
        }  # one request at a time: the reference
        assert [alone[f] for f in files] == [DIGIT_WORDS[int(f.name[0])] for f in files]
        local = threading.local()

        def ask(path: Path) -> tuple[Path, str, float]:
            if not hasattr(local, "client"):
                local.client = gradio_client.Client(url, verbose=False)
            started = time.perf_counter()
            text = local.client.predict(
                gradio_client.handle_file(str(path)), api_name="/transcribe"
            )[0]
            return path, text, time.perf_counter() - started

        jobs = [files[i % len(files)] for i in range(LOAD_REQUESTS)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=LOAD_CLIENTS) as pool:
            answers = list(pool.map(ask, jobs, timeout=240))
        wall = time.perf_counter() - started
    finally:
        app.close()
    wrong = [(p.name, t) for p, t, _ in answers if t != alone[p]]
    latencies = np.array([s for _, _, s in answers])
    report = {
        "requests": len(answers), "clients": LOAD_CLIENTS, "wrong": len(wrong),
        "p50_s": round(float(np.percentile(latencies, 50)), 3),
        "p90_s": round(float(np.percentile(latencies, 90)), 3),
        "max_s": round(float(latencies.max()), 3), "wall_s": round(wall, 2),
        "requests_per_s": round(len(answers) / wall, 2),
    }  # fmt: skip
    (tmp_path / "load.json").write_text(json.dumps(report, indent=2))
    print(f"\nload test: {json.dumps(report)}")
    assert wrong == [] and len(answers) == LOAD_REQUESTS


def test_demo_binds_to_loopback_by_default():
    assert demo.build_parser().parse_args([]).host == "127.0.0.1"
    assert inspect.signature(demo.serve).parameters["host"].default == "127.0.0.1"
    assert demo.build_parser().parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


@pytest.mark.parametrize("method", demo.DECODERS)
def test_path_like_hotwords_are_never_read(method, model, shipped, monkeypatch):
    """Hotwords are words: a value that looks like a path is not opened."""
    if method != "greedy" and not shipped:
        pytest.skip("the LM beam needs the digits model's decoder settings")
    opened: list[str] = []
    real = {"builtins": builtins.open, "io": io.open, "os": os.open}
    secret = "/etc/passwd"

    def spy(kind):
        def opener(file, *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and "passwd" in os.fsdecode(
                file
            ):
                opened.append(os.fsdecode(file))
            return real[kind](file, *args, **kwargs)

        return opener

    monkeypatch.setattr(builtins, "open", spy("builtins"))
    monkeypatch.setattr(io, "open", spy("io"))
    monkeypatch.setattr(os, "open", spy("os"))
    cache = demo.ModelCache(["model"])
    cache.models["model"] = model
    transcribe = demo.make_transcriber(cache)
    for hotwords in (secret, f"../../..{secret}, ~/.ssh/id_rsa", "file:///etc/passwd"):
        text, _, files, _ = transcribe(str(SPEECH), "model", method, hotwords)
        assert isinstance(text, str)
        temp = Path(tempfile.gettempdir()).resolve()
        assert all(Path(f).resolve().is_relative_to(temp) for f in files)
    assert opened == []
