"""Regression tests for issue 27, files, devices, audio and LMs: one test (or a few)
per item, each written so that it failed before the fix. Command lines that could
hang or crash run in a child process with a time limit, so that a hang or a
segfault is a failed test, not a stalled or crashed test run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, DIGITS_MODEL, KATHLEEN, ROOT

import asr
from asr.audio.blocks import read_blocks, truncation
from asr.audio.io import load_audio
from asr.cli import main
from asr.core import files
from asr.decoding import lm as lm_module
from asr.decoding.arpa import MAX_WORD_CHARS, read_arpa
from asr.decoding.settings import parse_hotwords, read_decoder_config

pytestmark = pytest.mark.timeout(300)  # a FIFO, a device or ffmpeg must not hang

SPEECH = DATA / "2_jackson_1.wav"  # "two"
DIGITS_LM = ROOT / "data" / "models" / "digits.arpa"
CASE_TIMEOUT_S = 20  # one command line in the child may take this long
CASE_MEMORY_MB = 8192  # and the child may map this much (torch maps ~2 GB)
needs_digits = pytest.mark.skipif(
    not DIGITS_MODEL.exists(), reason="needs data/models/digits.pt"
)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")

# Runs command lines one after another in one process (torch is imported once);
# each gets SIGALRM after CASE_TIMEOUT_S, so a blocked open() or an endless read
# ends the case, and each result is written as soon as the case ends. The address
# space is capped, so that reading /dev/zero is a MemoryError, not a swapping box.
DRIVER = r"""
import contextlib, io, json, resource, signal, sys, traceback
limit = int(sys.argv[4]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from asr.cli import main
def alarm(*_):
    raise TimeoutError("timed out")
signal.signal(signal.SIGALRM, alarm)
cases, out = json.load(open(sys.argv[1])), open(sys.argv[2], "w")
for i, argv in enumerate(cases):
    err, code, exc = io.StringIO(), None, None
    signal.alarm(int(sys.argv[3]))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as e:
        code = e.code
    except BaseException:
        exc = traceback.format_exc()[-1000:]
    signal.alarm(0)
    out.write(json.dumps({"i": i, "code": code, "stderr": err.getvalue()[-2000:],
                          "exception": exc}) + "\n")
    out.flush()
"""


def run_cli_cases(folder: Path, cases: list[list[str]]) -> list[dict | None]:
    """Each case's {code, stderr, exception}, or None where the child died first."""
    (folder / "cases.json").write_text(json.dumps(cases))
    results = folder / "results.jsonl"
    cmd = [sys.executable, "-c", DRIVER, str(folder / "cases.json"), str(results),
           str(CASE_TIMEOUT_S), str(CASE_MEMORY_MB)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    try:
        subprocess.run(cmd, env=env, cwd=folder, capture_output=True,
                       timeout=CASE_TIMEOUT_S * len(cases) + 60)  # fmt: skip
    except subprocess.TimeoutExpired:
        pass
    rows = {}
    if results.exists():
        rows = {r["i"]: r for r in map(json.loads, results.read_text().splitlines())}
    return [rows.get(i) for i in range(len(cases))]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err and len(lines[0]) < 400, err
    return lines[0]


# -- C7 and M2: devices and FIFOs as arguments ----------------------------------------


def file_arguments(folder: Path, value: str, onnx: str) -> dict[str, list[str]]:
    """Every command-line argument that names a file to read, given ``value``
    (``onnx`` where the name must end in .onnx)."""
    phrases = folder / "phrases.txt"
    phrases.write_text("one\ntwo\n")
    model = ["--model", str(DIGITS_MODEL)]
    adapt = ["adapt", "--base", str(DIGITS_MODEL), "--out", str(folder / "adapted")]
    return {
        "--model": ["transcribe", str(SPEECH), "--model", value],
        "--model .onnx": ["transcribe", str(SPEECH), "--model", onnx],
        "--grammar": ["transcribe", str(SPEECH), *model, "--grammar", value],
        "--decoder-config": [
            "transcribe",
            str(SPEECH),
            *model,
            "--decoder-config",
            value,
        ],  # fmt: skip
        "--lm": ["transcribe", str(SPEECH), *model, "--lm", value],
        "--hotwords": ["transcribe", str(SPEECH), *model, "--hotwords", value],
        "lm build": ["lm", "build", value, "-o", str(folder / "out.arpa")],
        "lm build --exclude": [
            "lm",
            "build",
            str(phrases),
            "--exclude",
            value,
            "-o",
            str(folder / "out.arpa"),
        ],  # fmt: skip
        "lm score": ["lm", "score", str(DIGITS_LM), value],
        "adapt --text": [*adapt, "--phrases", str(phrases), "--text", value],
        "adapt --grammar": [*adapt, "--grammar", value],
    }


@needs_digits
@pytest.mark.parametrize("kind", ["device", "symlink to a device", "fifo"])
def test_c7_m2_devices_and_fifos_are_refused_in_one_line(tmp_path, kind):
    """/dev/zero was read to the end (gigabytes in seconds) and a FIFO hung for
    ever; now each is refused before it is opened, in one line, exit status 2."""
    for name in ("zero", "zero.onnx"):
        (tmp_path / name).symlink_to("/dev/zero")
    for name in ("fifo", "fifo.onnx"):
        os.mkfifo(tmp_path / name)
    value = {"device": "/dev/zero", "symlink to a device": str(tmp_path / "zero"),
             "fifo": str(tmp_path / "fifo")}[kind]  # fmt: skip
    onnx = str(tmp_path / ("fifo.onnx" if kind == "fifo" else "zero.onnx"))
    arguments = file_arguments(tmp_path, value, onnx)
    results = run_cli_cases(tmp_path, list(arguments.values()))
    failed = {}
    for name, result in zip(arguments, results, strict=True):
        if result is None or result["exception"]:
            failed[name] = result and result["exception"].strip().splitlines()[-1]
        elif result["code"] != 2 or "not a regular file" not in result["stderr"]:
            failed[name] = (result["code"], result["stderr"][-300:])
        else:
            one_error_line(result["stderr"])
    assert not failed, failed
    assert not (tmp_path / "out.arpa").exists() and not (tmp_path / "adapted").exists()


def test_c7_text_inputs_are_capped(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"beam_size": 5, "notes": "x" * files.MAX_TEXT_BYTES}))
    with pytest.raises(ValueError, match="larger than the 1,000,000 bytes"):
        read_decoder_config(big)
    hotwords = tmp_path / "hotwords.txt"
    hotwords.write_text("seven:2\n" * 200_000)
    with pytest.raises(ValueError, match="larger than the 1,000,000 bytes"):
        parse_hotwords(str(hotwords))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three\n" * 1000)
    monkeypatch.setattr(lm_module, "MAX_CORPUS_CHARS", 10_000)
    with pytest.raises(ValueError, match="more than 10,000 characters"):
        lm_module.read_sentences([corpus])


def test_m2_hotwords_naming_a_folder_are_still_words(tmp_path, monkeypatch):
    """Only a FIFO, device or socket is refused; a word that happens to name a
    folder in the working directory is a hotword as before."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert parse_hotwords("data") == (("data", 3.0),)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="not a regular file"):
        parse_hotwords("pipe")


# -- C5: LM words too long for flashlight ---------------------------------------------


def long_word_arpa(path: Path, word: str) -> Path:
    path.write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0\t<unk>\n-1.0\t<s>\n"
                    f"-1.0\t</s>\n-1.0\ttwo\n-1.0\t{word}\n\n\\end\\\n")  # fmt: skip
    return path


@needs_digits
def test_c5_a_model_whose_lm_has_a_long_word_is_an_error_not_a_crash(tmp_path):
    """The demo loads a model's own .decoder.json LM: a 100,000-letter word there
    killed the process with signal 11. The child must end with one error line."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(DIGITS_MODEL, folder / "m.pt")
    long_word_arpa(folder / "m.arpa", "a" * 100_000)
    (folder / "m.decoder.json").write_text(json.dumps({"lm": "m.arpa"}))
    script = (f"import asr; m = asr.load_model(r'{folder / 'm.pt'}')\n"
              f"try:\n    m.transcribe(r'{SPEECH}')\n"
              "except ValueError as e:\n    print('refused:', e)")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, (run.returncode, run.stderr[-500:])  # 139 before
    assert f"at most {MAX_WORD_CHARS}" in run.stdout


def test_c5_lm_build_never_writes_a_word_the_decoder_refuses(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("one two three\n" * 5 + "one " + "a" * 100_000 + " two\n")
    out = tmp_path / "lm.arpa"
    assert main(["lm", "build", str(text), "-o", str(out), "--order", "2"]) == 0
    vocab = read_arpa(out).vocab
    assert {"one", "two", "three"} <= set(vocab)
    assert max(map(len, vocab)) <= MAX_WORD_CHARS  # the long word counts as <unk>


def test_c5_adapt_refuses_a_phrase_with_a_long_word_before_writing(tmp_path, capsys):
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("turn on the light\nsay " + "a" * 100_000 + "\n")
    out = tmp_path / "adapted"
    code = main(["adapt", "--phrases", str(phrases), "--out", str(out)])
    assert code == 2 and "at most 100" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


# -- M1: ffmpeg's messages, playlists ----------------------------------------------


def corrupt_aac(path: Path) -> Path:
    """About 1 MB of ADTS frames: valid headers, random payloads. ffmpeg writes
    ~700 kB of messages about them, more than a pipe holds."""
    rng = np.random.default_rng(0)
    header = bytes.fromhex("fff15040213ffc")  # AAC LC, 16 kHz mono, 265-byte frames
    frames = [header + rng.bytes(258) for _ in range(3600)]
    path.write_bytes(b"".join(frames))
    return path


@needs_ffmpeg
def test_m1_corrupt_aac_and_a_self_referencing_ffconcat_do_not_hang(tmp_path):
    bad = corrupt_aac(tmp_path / "bad.aac")
    concat = tmp_path / "a"  # 28 bytes that name themselves
    concat.write_text("ffconcat version 1.0\nfile a\n")
    assert concat.stat().st_size == 28
    for path in (bad, concat):
        with pytest.raises(asr.AudioError, match="not a readable audio file"):
            list(read_blocks(path))  # hung for ever: stderr was never drained
        with pytest.raises(asr.AudioError):
            load_audio(path)


@needs_ffmpeg
@needs_digits
def test_m1_the_cli_goes_on_after_a_corrupt_aac(tmp_path):
    bad = corrupt_aac(tmp_path / "bad.aac")
    concat = tmp_path / "list.ffconcat"
    concat.write_text("ffconcat version 1.0\nfile list.ffconcat\n")
    good = tmp_path / "good.m4a"  # ffmpeg still reads what only it can read
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(SPEECH), str(good)], check=True)
    cmd = [sys.executable, "-m", "asr", "transcribe", "--model", str(DIGITS_MODEL),
           str(bad), str(concat), str(good)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 1 and run.stdout.split()[-1] == "two", run.stderr
    assert "playlist" in run.stderr and "Traceback" not in run.stderr


# -- minor: truncated FLAC ----------------------------------------------------------


def test_truncated_flac_is_transcribed_up_to_the_cut(tmp_path, tiny_checkpoint, capsys):
    data = KATHLEEN[0].read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    seconds = sum(len(b) for b in read_blocks(cut)) / 16_000
    assert 1.0 < seconds < sf.info(str(KATHLEEN[0])).duration  # was an AudioError
    assert "truncated" in truncation(cut) and truncation(KATHLEEN[0]) is None
    assert main(["transcribe", "--model", str(tiny_checkpoint), str(cut)]) == 0
    assert "warning: " in capsys.readouterr().err


# -- minor: where a model's decoder settings may point ------------------------------


def test_decoder_json_keeps_its_lm_in_the_models_folder(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET first line\n")
    folder = tmp_path / "models"
    folder.mkdir()
    config = folder / "m.decoder.json"
    config.write_text(json.dumps({"lm": "../secret.txt"}))
    with pytest.raises(ValueError, match="outside") as caught:
        read_decoder_config(config)
    assert "TOPSECRET" not in str(caught.value)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "big.arpa").write_text("TOPSECRET first line\n")  # named like an LM
    config.write_text(json.dumps({"lm": "../shared/big.arpa"}))
    lm = read_decoder_config(config)["lm"]
    assert Path(lm).resolve() == (shared / "big.arpa").resolve()
    with pytest.raises(ValueError) as caught:
        read_arpa(lm)
    assert "TOPSECRET" not in str(caught.value)  # echoed the first line before
    (folder / "m.arpa").write_text("")
    config.write_text(json.dumps({"lm": "m.arpa"}))  # inside: as before
    assert read_decoder_config(config)["lm"] == str(folder / "m.arpa")


# -- also: digital silence ----------------------------------------------------------


def test_zeros_give_zero_features_and_no_text_without_the_vad():
    """CMVN of an all-zero signal: every frame equals the mean, so the features are
    exactly zero (the variance floor keeps it finite), and no letters come out even
    with the VAD bypassed (``transcribe_batch`` takes a flat signal as no speech)."""
    if not (files.MODELS_DIR / "default.pt").exists():
        pytest.skip("needs data/models/default.pt")
    import torch

    model = asr.load_model()
    zeros = np.zeros(160_000, np.float32)
    feats, _ = model.frontend(torch.from_numpy(zeros)[None], torch.tensor([160_000]))
    assert torch.count_nonzero(feats) == 0
    assert model.transcribe_batch([zeros]) == [""]
    for decoder in ("greedy", "beam"):
        assert model.transcribe(zeros, decoder=decoder) == ""
