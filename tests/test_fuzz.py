"""Fuzz the two doors a hostile user has: the demo's HTTP API (gradio_client on
127.0.0.1, the demo in its own process so that a crash is seen, not suffered) and
the ``asr transcribe`` command line (one driver process running many command lines
in a row, restarted if one kills it). hypothesis draws the cases, derandomised so a
run is repeatable; the counts are bounded, and so is each case's time.

A case fails when the server or the driver dies or hangs, an exception escapes as a
traceback or a bare "Error", a message is not one short line or shows a server
temporary path, an invalid option is not refused with exit status 2, or a valid
command does not succeed. The test tries every case, prints the tally, and then
asserts that none failed, that the server still answers correctly and that its
peak memory stayed within MAX_GROWTH_MB of its warm baseline.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, DIGITS_MODEL, ROOT
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import asr

gradio_client = pytest.importorskip("gradio_client")

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not DIGITS_MODEL.exists(), reason="needs data/models/digits.pt"),
]

API_CASES = 30  # requests drawn for the demo (and two fixed ones)
CLI_CASES = 30  # command lines drawn for asr transcribe
CASE_TIMEOUT_S = 60  # one request or command line may take this long
MAX_GROWTH_MB = 1024  # the server's peak memory may grow this much over its baseline
BOMB_MINUTES = 30  # the decompression bomb: this long at 48 kHz stereo, ~330 kB


def write_inputs(folder: Path) -> dict[str, Path]:
    """Small crafted files: good speech and hostile ones."""
    speech = DATA / "2_jackson_1.wav"
    files = {
        "speech": folder / "speech.wav",
        "empty": folder / "empty.wav",
        "random": folder / "random.wav",
        "text": folder / "notes.txt",
        "truncated": folder / "truncated.wav",
        "bomb": folder / "bomb.flac",
    }
    files["speech"].write_bytes(speech.read_bytes())
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["text"].write_text("not audio\n" * 50)
    files["truncated"].write_bytes(speech.read_bytes()[: len(speech.read_bytes()) // 2])
    with sf.SoundFile(files["bomb"], "w", 48000, 2, "PCM_16", format="FLAC") as out:
        minute = np.zeros((48000 * 60, 2), np.int16)
        for _ in range(BOMB_MINUTES):
            out.write(minute)
    return files


# -- the demo's HTTP API -------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """``python demo.py`` in a child process on 127.0.0.1."""

    def __init__(self):
        self.proc, self.url, self.client, self.restarts = None, "", None, 0
        self.baseline, self.growth = 0.0, 0.0  # MB: warm RSS, worst peak growth

    def start(self) -> None:
        self.client, port = None, free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        cmd = [
            sys.executable,
            str(ROOT / "demo.py"),
            "--model",
            str(DIGITS_MODEL),
            "--port",
            str(port),
            "--max-seconds",
            "600",
        ]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                self.client = gradio_client.Client(self.url, verbose=False)
                break
            except Exception:
                time.sleep(1)
        if self.client is None or self.proc.poll() is not None:
            raise RuntimeError(f"the demo did not start (exit {self.proc.poll()})")
        self.ask(DATA / "2_jackson_1.wav", MODEL, "LM beam search", "seven")  # warm up
        self.baseline = self.memory_mb("VmRSS")

    def note_memory(self) -> None:
        """Track the worst peak growth over the warm baseline, across restarts."""
        if self.alive():
            self.growth = max(self.growth, self.memory_mb("VmHWM") - self.baseline)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def memory_mb(self, field: str) -> float:
        """VmRSS (now) or VmHWM (peak) of the server process, in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return math.nan

    def ask(self, path, model, method, hotwords):
        job = self.client.submit(
            gradio_client.handle_file(str(path)),
            model,
            method,
            hotwords,
            api_name="/transcribe",
        )
        return job.result(timeout=CASE_TIMEOUT_S)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


HOSTILE_HOTWORDS = [
    "x" * 100_000,
    "x" * 60_000,
    ",".join(["seven"] * 5000),
    "9" * 5000,
    "1" * 40,
    "/etc/passwd",
    "\x00\x01",
    ":::",
    "seven:nan",
    "seven:1e999",
    "seven, nine",
    "数字, ünï",
    "",
]
MODEL = "digits.pt"  # the API names models; a server path is refused
MODELS = [MODEL, MODEL, MODEL, str(DIGITS_MODEL), "/etc/passwd", "../../etc/passwd", ""]
METHODS = ["LM beam search", "LM beam search", "greedy", "beam", ""]  # drawn often


def api_cases():
    hotwords = st.one_of(
        st.sampled_from(HOSTILE_HOTWORDS),
        st.sampled_from(HOSTILE_HOTWORDS),
        st.text(max_size=40),
        st.builds(lambda c, n: c * n, st.characters(), st.integers(1, 150_000)),
    )
    files = st.sampled_from(
        ["speech", "speech", "empty", "random", "text", "truncated", "bomb"]
    )
    return st.tuples(files, st.sampled_from(MODELS), st.sampled_from(METHODS), hotwords)


def judge_answer(answer, error, sent: tuple = ()) -> str | None:
    """None for a result or a clean message, else why the case failed; a message
    may repeat what the client sent (``sent``), but show no other server path."""
    if error is None:
        text = answer[0]
        return None if isinstance(text, str) else f"odd answer {answer!r:.200}"
    if not isinstance(error, gradio_client.exceptions.AppError):
        return f"no answer ({type(error).__name__}: {str(error)[:200]})"
    message = str(error)
    shown = message
    for value in sent:
        shown = shown.replace(value, "<sent>") if value else shown
    if not message or message.strip() in ("Error", "None"):
        return "unhandled exception on the server (bare 'Error')"
    if len(message) > 500 or "\n" in message.strip():
        return f"message of {len(message)} characters"
    if "/tmp" in shown or str(ROOT) in shown or "gradio" in shown.lower():
        return f"message shows a server path: {message[:200]}"
    return None


def run_api_fuzz(server: DemoServer, files: dict[str, Path]) -> list[dict]:
    tally: list[dict] = []

    @settings(
        max_examples=API_CASES,
        derandomize=True,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(api_cases())
    @example(("bomb", MODEL, "greedy", ""))  # always: the decompression bomb
    @example(("speech", MODEL, "LM beam search", "x" * 100_000))  # ... and the crash
    def one(case):
        name, model, method, hotwords = case
        if not server.alive():
            server.start()
            server.restarts += 1
        answer, error, started = None, None, time.monotonic()
        try:
            answer = server.ask(files[name], model, method, hotwords)
        except Exception as caught:  # judged below
            error = caught
        why = judge_answer(answer, error, (model, method, hotwords))
        if why and not server.alive():
            why = f"server died (exit {server.proc.poll()})"
        server.note_memory()
        tally.append(
            {
                "case": [name, model, method, f"{hotwords[:20]!r} x{len(hotwords)}"],
                "seconds": round(time.monotonic() - started, 1),
                "failure": why,
            }
        )

    one()
    return tally


# -- the command line ----------------------------------------------------------------

DRIVER = r"""
import contextlib, io, json, signal, sys, time, resource, traceback
from asr.cli import main
cases = json.load(open(sys.argv[1]))
start, out = int(sys.argv[2]), open(sys.argv[3], "a")
def alarm(*_):
    raise TimeoutError("case timed out")
signal.signal(signal.SIGALRM, alarm)
for i in range(start, len(cases)):
    out.write(json.dumps({"i": i, "started": True}) + "\n"); out.flush()
    stdout, stderr, code, exc = io.StringIO(), io.StringIO(), None, None
    sys.stdin = io.TextIOWrapper(io.BytesIO(open(cases[i]["stdin"], "rb").read()))
    began = time.monotonic()
    signal.alarm(int(sys.argv[4]))
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(cases[i]["argv"])
    except SystemExit as e:
        code = e.code
    except BaseException:
        exc = traceback.format_exc()[-2000:]
    signal.alarm(0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write(json.dumps({"i": i, "code": code, "stdout": stdout.getvalue()[-4000:],
        "stderr": stderr.getvalue()[-6000:], "exception": exc, "max_rss_mb": rss,
        "seconds": time.monotonic() - began}) + "\n"); out.flush()
"""

# (flags, valid): valid flags must work, invalid ones must be refused with exit 2
OPTIONS = [
    ([], True),
    (["--beam", "5"], True),
    (["--lm-weight", "0.5"], True),
    (["--hotwords", "seven:2"], True),
    (["--output-format", "JSON"], True),
    (["--output-format", "tsv"], True),
    (["--word-timestamps"], True),
    (["--device", "cpu"], True),
    (["--beam", "0"], False),
    (["--beam", "-3"], False),
    (["--lm-weight", "nan"], False),
    (["--lm-weight", "inf"], False),
    (["--beam-threshold", "-1"], False),
    (["--hotwords", "seven:nan"], False),
    (["--hotwords", "seven:1e999"], False),
    (["--hotwords", "x" * 100_000], False),
    (["--device", "mps"], False),
    (["--device", "bogus"], False),
    (["--output-format", "pdf"], False),
    (["--decoder-config", "@bad-json"], False),
    (["--decoder-config", "@ten-json"], False),
    (["--output-format", "srt"], None),
]
INPUTS = [
    "speech",
    "speech2",
    "random",
    "loop",
    "fifo",
    "missing",
    "dir",
    "stdin",
    "clash",
]
BAD_INPUTS = {"random", "loop", "fifo", "missing"}


def cli_inputs(folder: Path, files: dict[str, Path]) -> dict[str, str]:
    """Input arguments by kind; "clash" shares the stem of "speech"."""
    (folder / "loop").symlink_to(folder / "loop")
    os.mkfifo(folder / "fifo.wav")
    (folder / "sub").mkdir()
    (folder / "sub" / "speech.wav").write_bytes(files["speech"].read_bytes())
    (folder / "speech2.wav").write_bytes((DATA / "4_theo_2.wav").read_bytes())
    return {
        "speech": str(files["speech"]),
        "speech2": str(folder / "speech2.wav"),
        "random": str(files["random"]),
        "loop": str(folder / "loop"),
        "fifo": str(folder / "fifo.wav"),
        "missing": str(folder / "missing.wav"),
        "dir": str(folder / "sub"),
        "stdin": "-",
        "clash": str(folder / "sub" / "speech.wav"),
    }


def cli_cases():
    return st.tuples(
        st.lists(st.sampled_from(range(len(OPTIONS))), max_size=2, unique=True),
        st.lists(st.sampled_from(INPUTS), min_size=1, max_size=3, unique=True),
        st.booleans(),  # --output-dir
    )


def expected(options: list[int], inputs: list[str], output_dir: bool) -> str:
    """ "refuse" (exit 2), "partial" (exit 1, good files done) or "ok" (exit 0)."""
    flags = [OPTIONS[i] for i in options]
    names = {"clash" if n == "dir" else n for n in inputs} - {"loop", "fifo"}
    several = len(names) > 1  # files to transcribe ("dir" holds the "clash" file)
    if any(valid is False for _, valid in flags):
        return "refuse"
    if any(valid is None for _, valid in flags) and several and not output_dir:
        return "refuse"  # several subtitle files on one stream are not valid SRT
    if output_dir and {"speech", "clash"} <= names:
        return "refuse"  # two inputs would write the same output file
    return "partial" if BAD_INPUTS & set(inputs) else "ok"


def judge_cli(result: dict | None, want: str) -> str | None:
    if result is None:
        return "driver died (crash)"
    if result.get("exception"):
        return "exception: " + result["exception"].strip().splitlines()[-1][:200]
    err = result["stderr"]
    if "Traceback" in err:
        return "traceback on stderr"
    if any(len(line) > 500 for line in err.splitlines()):
        return "an error line of over 500 characters"
    codes = {"refuse": 2, "partial": 1, "ok": 0}
    if result["code"] != codes[want]:
        return f"exit {result['code']}, expected {codes[want]} ({want}): {err[-300:]!r}"
    return None


def run_cli_fuzz(folder: Path, files: dict[str, Path]) -> list[dict]:
    inputs = cli_inputs(folder, files)
    (folder / "bad.json").write_text("{not json")
    (folder / "ten.json").write_text(json.dumps({"beam_size": "ten"}))
    drawn: list[tuple] = []

    @settings(
        max_examples=CLI_CASES,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cli_cases())
    def draw(case):
        drawn.append(case)

    draw()
    cases = []
    for k, (options, names, output_dir) in enumerate(drawn):
        argv = ["transcribe", "--model", str(DIGITS_MODEL)]
        for i in options:
            argv += [
                a.replace("@bad-json", str(folder / "bad.json")).replace(
                    "@ten-json", str(folder / "ten.json")
                )
                for a in OPTIONS[i][0]
            ]
        if output_dir:
            argv += ["--output-dir", str(folder / f"out{k}")]
        argv += [inputs[n] for n in names]
        cases.append(
            {
                "argv": argv,
                "stdin": str(files["speech"]),
                "want": expected(options, names, output_dir),
            }
        )
    (folder / "cases.json").write_text(json.dumps(cases))
    results = drive(folder, len(cases))
    tally = []
    for i, case in enumerate(cases):
        why = judge_cli(results.get(i), case["want"])
        shown = [a if len(a) < 60 else f"<{len(a)} chars>" for a in case["argv"][3:]]
        tally.append(
            {
                "case": shown,
                "failure": why,
                "max_rss_mb": (results.get(i) or {}).get("max_rss_mb"),
            }
        )
    return tally


def drive(folder: Path, count: int) -> dict[int, dict]:
    """Run the cases in driver processes; a case that kills one is skipped."""
    results_path, results, start = folder / "results.jsonl", {}, 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    while start < count:
        cmd = [
            sys.executable,
            "-c",
            DRIVER,
            str(folder / "cases.json"),
            str(start),
            str(results_path),
            str(CASE_TIMEOUT_S),
        ]
        try:
            subprocess.run(
                cmd,
                env=env,
                timeout=CASE_TIMEOUT_S * (count - start) + 60,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pass
        started = None
        for line in results_path.read_text().splitlines():
            row = json.loads(line)
            if row.get("started"):
                started = row["i"]
            else:
                results[row["i"]] = row
        if started is None or started in results:
            break
        start = started + 1  # the case that was running when the driver died
    return results


# -- Live chunks ---------------------------------------------------------------------

LIVE_CASES = 60  # chunks drawn for the Live handler
ODD_RATES = [0, -16000, 1, 999, 8000, 11025, 44101, 48000, 96000, 192_000, 192_001,
             1_000_000, 10**12, 44100.5, float("nan"), float("inf"), "48000",
             None]  # fmt: skip
DTYPES = ["int16", "int32", "uint8", "float32", "float64", "float16", "bool",
          "complex64", "object"]  # fmt: skip


def make_chunk(rate, size: int, channels: int, dtype: str, poison: str, layout: str):
    """A chunk as (rate, samples): ``size`` frames of noise of ``channels`` in
    ``layout`` ("NC", "CN" or "3d"), optionally with NaN or inf or at 1e30."""
    rng = np.random.default_rng(size)
    noise = rng.standard_normal((size, channels)) * 0.1
    if dtype.startswith("int") or dtype == "uint8":
        samples = (noise * np.iinfo(dtype).max).astype(dtype)
    else:
        samples = noise.astype(dtype)
    if poison != "none" and samples.dtype.kind in "fc" and samples.size:
        value = {"nan": np.nan, "inf": np.inf, "loud": 1e30}[poison]
        with np.errstate(over="ignore"):  # 1e30 is inf in float16: fine
            samples.flat[size // 2] = value
    if layout == "CN":
        samples = samples.T
    elif layout == "3d":
        samples = samples[None]
    return rate, samples[:, 0] if channels == 1 and layout == "NC" else samples


def live_chunk_cases():
    return st.tuples(
        st.sampled_from(ODD_RATES),
        st.one_of(st.integers(0, 4000), st.integers(4000, 2_000_000)),
        st.sampled_from([1, 1, 2, 6, 64]),
        st.sampled_from(DTYPES),
        st.sampled_from(["none", "none", "nan", "inf", "loud"]),
        st.sampled_from(["NC", "NC", "CN", "3d"]),
    )


def test_fuzz_live_chunks():
    """Odd rates, sizes, dtypes, layouts, NaN/inf and huge chunks through the Live
    tab's handler, one session: every chunk gives a result or one short message,
    never an exception, and the session holds bounded audio; afterwards it still
    recognises speech."""
    from asr.app import handlers

    cache = handlers.ModelCache([str(DIGITS_MODEL)])
    bound = (handlers.HISTORY_S + 2 * 5.0) * asr.SAMPLE_RATE * 4  # bytes, float32
    tally, state = [], {"session": None}

    @settings(max_examples=LIVE_CASES, derandomize=True, deadline=None,
              phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(live_chunk_cases())
    @example((48000, 10_000_000, 1, "float32", "none", "NC"))  # 40 MB in one chunk
    @example((1_000_000, 1_000_000, 1, "int16", "none", "NC"))  # 1 MHz
    @example((192_000, 960_000, 1, "int16", "none", "NC"))  # the largest accepted
    def one(case):
        chunk = make_chunk(*case)
        failure = None
        try:
            session, partial, finals, _ = handlers.live_chunk(
                state["session"], chunk, None, cache, 600
            )
            state["session"] = session
            if not isinstance(partial, str) or len(partial) > 300 or "\n" in partial:
                failure = f"odd partial {partial!r:.200}"
            elif session.stored_bytes > bound:
                failure = f"holds {session.stored_bytes} bytes of audio"
        except Exception as error:  # judged: nothing may escape
            failure = f"{type(error).__name__}: {str(error)[:200]}"
        tally.append({"case": [str(case[0])[:12], *case[1:]], "failure": failure})

    one()
    failed = [row for row in tally if row["failure"]]
    print(f"\nlive chunks: {len(tally)} cases, {len(failed)} failed")
    for row in failed:
        print("  FAILED", row["case"], "->", row["failure"])
    assert failed == []
    session = handlers.LiveSession(cache.get(None))
    speech = (asr.load_audio(DATA / "2_jackson_1.wav") * 32767).astype(np.int16)
    silence = np.zeros(8000, np.int16)
    for piece in (silence, speech, silence, silence):
        session.on_chunk((16000, piece))
    assert session.stop()[1] == "two"


# -- files named on the command line: devices, FIFOs, broken models ----------------

FILE_CASES = 30  # (argument, file) pairs drawn
FILE_ARGUMENTS = {  # "@" is the file; each reads a file the user names
    "--model": ["transcribe", "@speech", "--model", "@"],
    "--grammar": ["transcribe", "@speech", "--model", "@digits", "--grammar", "@"],
    "--decoder-config": [
        "transcribe",
        "@speech",
        "--model",
        "@digits",
        "--decoder-config",
        "@",
    ],  # fmt: skip
    "--lm": ["transcribe", "@speech", "--model", "@digits", "--lm", "@"],
    "--hotwords": ["transcribe", "@speech", "--model", "@digits", "--hotwords", "@"],
    "lm build": ["lm", "build", "@", "-o", "@out"],
    "lm score": ["lm", "score", "@", "@speech"],
}
NOT_REGULAR = ["/dev/zero", "/dev/null", "/dev/urandom", "zero-link", "fifo", "dir"]
BROKEN = ["empty", "random.pt", "truncated.pt", "text.pt", "random.onnx",
          "meta-empty.onnx", "meta-huge-fft.onnx"]  # fmt: skip


def write_broken_files(folder: Path) -> dict[str, str]:
    """Model and text files a user might pass by mistake or malice, by name."""
    rng = np.random.default_rng(0)
    (folder / "zero-link").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo")
    (folder / "dir").mkdir()
    (folder / "empty").write_bytes(b"")
    (folder / "random.pt").write_bytes(rng.bytes(50_000))
    (folder / "truncated.pt").write_bytes(DIGITS_MODEL.read_bytes()[:100_000])
    (folder / "text.pt").write_text("not a model\n")
    (folder / "random.onnx").write_bytes(rng.bytes(50_000))
    for name, meta in [("meta-empty.onnx", "{}"), ("meta-huge-fft.onnx", json.dumps(
            {"format": "asr-onnx", "vocab": ["<blank>", "a"],
             "frontend_config": {"n_fft": 100_000_000}}))]:  # fmt: skip
        _tiny_onnx(folder / name, meta)
    paths = {name: str(folder / name) for name in BROKEN + NOT_REGULAR}
    return {**paths, **{d: d for d in NOT_REGULAR if d.startswith("/dev/")}}


def _tiny_onnx(path: Path, meta: str) -> None:
    """A valid one-node ONNX graph whose asr metadata is ``meta``."""
    onnx = pytest.importorskip("onnx")
    from asr.inference.exported import META_KEY

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    model = onnx.helper.make_model(onnx.helper.make_graph([node], "g", [x], [y]))
    onnx.helper.set_model_props(model, {META_KEY: meta})
    onnx.save(model, str(path))


def test_fuzz_file_arguments(tmp_path):
    """Devices, FIFOs, folders and broken model or text files as every argument
    that names a file: each must be refused with one short line and exit status 2,
    quickly (a FIFO hung, /dev/zero was read to the end)."""
    files = write_broken_files(tmp_path)
    drawn = []

    @settings(max_examples=FILE_CASES, derandomize=True, deadline=None,
              phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.sampled_from(sorted(FILE_ARGUMENTS)),
           st.sampled_from(NOT_REGULAR + BROKEN))  # fmt: skip
    @example("--grammar", "/dev/zero")
    @example("--decoder-config", "fifo")
    @example("--model", "meta-huge-fft.onnx")
    def draw(argument, name):
        drawn.append((argument, name))

    draw()
    fixed = {"@speech": str(DATA / "2_jackson_1.wav"), "@digits": str(DIGITS_MODEL),
             "@out": str(tmp_path / "out.arpa"), "@": None}  # fmt: skip
    cases = []
    for argument, name in drawn:
        argv = [files[name] if a == "@" else fixed.get(a, a)
                for a in FILE_ARGUMENTS[argument]]  # fmt: skip
        cases.append({"argv": argv, "stdin": fixed["@speech"]})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    results = drive(tmp_path, len(cases))
    failed = []
    for i, (argument, name) in enumerate(drawn):
        result, why = results.get(i), None
        if may_work(argument, name) and result and result["code"] == 0:
            why = judge_cli(result, "ok")  # text that happens to be usable
        else:
            why = judge_cli(result, "refuse")
            errors = [x for x in result["stderr"].splitlines() if "error" in x] if (
                result) else []  # fmt: skip
            if why is None and len(errors) != 1:  # argparse adds its usage lines
                why = f"not one error line: {result['stderr'][-300:]!r}"
        if why:
            failed.append((argument, name, why))
    print(f"\nfile arguments: {len(drawn)} cases, {len(failed)} failed")
    for row in failed:
        print("  FAILED", *row)
    assert failed == []


def may_work(argument: str, name: str) -> bool:
    """Whether a run may succeed: a broken model file read as text can be a usable
    grammar, hotword list or LM corpus ("not a model" is a fine sentence), and a
    folder's name given as --hotwords is a word, not a file."""
    texts = ("--grammar", "--hotwords", "lm build")
    return (argument in texts and name in BROKEN) or (argument, name) == (
        "--hotwords", "dir")  # fmt: skip


# -- grammar text (issue 27): load_grammar, the decoder and the CLI ------------------

GRAMMAR_CASES = 60  # grammar texts drawn
GRAMMAR_CASE_S = 5.0  # one grammar may take this long to compile and match
SPEECH = DATA / "2_jackson_1.wav"  # "two"
GRAMMAR_PIECES = [
    "yes", "no", "two", "turn on", "x" * 120, "caf\u00e9", "42", "(", ")", "[", "]",
    "|", "<a>", "<b>", "a = ", "b = <a> <a>", "$colour", "{slot}", "{k:v}", "/2/",
    ":one", "[unk]", "[Intent]", "#JSGF V1.0;", "public <a> =", ";", "/*", "*/",
    "//", "#", "\ufeff", "\n", "\n", " ", "\t", "\x00", "\u202e", '["a", "b"]',
]  # fmt: skip


def grammar_texts():
    pieces = st.lists(st.sampled_from(GRAMMAR_PIECES), max_size=40).map("".join)
    nested = st.integers(1, 400).map(lambda n: "say " + "(" * n + "x" + ")" * n)
    chains = st.integers(1, 600).map(
        lambda n: "".join(f"r{i} = <r{i + 1}>\n" for i in range(n)) + f"r{n} = x\n<r0>"
    )
    return st.one_of(pieces, pieces, nested, chains, st.text(max_size=200))


def test_fuzz_grammar_text(tmp_path, capsys):
    """Random and hostile grammar text through ``load_grammar``, a digits decoder
    and ``asr transcribe --grammar``: a ``Grammar`` and a ``Match`` or one
    ``GrammarError`` within GRAMMAR_CASE_S, never another exception; the CLI exits
    0 or 2 with at most one error line."""
    from asr.cli import main

    model = asr.load_model(DIGITS_MODEL)
    speech = asr.load_audio(SPEECH)
    tally = []

    @settings(max_examples=GRAMMAR_CASES, derandomize=True, deadline=None,
              phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(grammar_texts())
    @example("\ufeff#JSGF V1.0;\ngrammar g;\npublic <a> = one | two;\n")
    @example(
        "d = (one | two)\na = <d> <d> <d> <d>\n(" + " | ".join(["<a>"] * 3000) + ")"
    )
    def one(text):
        path = tmp_path / "g.txt"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        started, failure = time.perf_counter(), None
        try:
            grammar = asr.load_grammar(path)
            result = model.match(speech, grammar)
            if not 0 <= result.confidence <= 1:
                failure = f"confidence {result.confidence}"
            json.loads(result.to_json())
        except asr.GrammarError as error:
            if "\n" in str(error) or len(str(error)) > 400:
                failure = f"error not one short line: {str(error)[:200]!r}"
        except Exception as error:  # judged: nothing else may escape
            failure = f"{type(error).__name__}: {str(error)[:200]}"
        took = time.perf_counter() - started
        if failure is None and took > GRAMMAR_CASE_S:
            failure = f"took {took:.1f} s"
        tally.append({"text": text[:60], "failure": failure})

    one()
    for text in [GRAMMAR_PIECES[4], "say " + "(" * 300 + "x" + ")" * 300, "(|)"]:
        path = tmp_path / "g.txt"
        path.write_text(text)
        model_flag = ["--model", str(DIGITS_MODEL)]
        status = main(["transcribe", *model_flag, "--grammar", str(path), str(SPEECH)])
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if "error" in line]
        if status not in (0, 2) or len(errors) > 1 or "Traceback" in err:
            tally.append({"text": text[:60], "failure": f"CLI {status}: {err[:200]}"})
    failed = [row for row in tally if row["failure"]]
    print(f"\ngrammar texts: {len(tally)} cases, {len(failed)} failed")
    for row in failed:
        print("  FAILED", repr(row["text"]), "->", row["failure"])
    assert failed == []


# -- the test ------------------------------------------------------------------------


def test_fuzz_demo_api_and_cli(tmp_path):
    files = write_inputs(tmp_path)
    server = DemoServer()
    server.start()
    try:
        api = run_api_fuzz(server, files)
        if not server.alive():
            server.start()
            server.restarts += 1
        text = server.ask(files["speech"], MODEL, "greedy", "")[0]
        server.note_memory()
    finally:
        server.stop()
    cli = (
        run_cli_fuzz(tmp_path / "cli", files)
        if (tmp_path / "cli").mkdir() is None
        else []
    )
    report = {
        "api_cases": len(api),
        "api_failures": sum(bool(r["failure"]) for r in api),
        "server_restarts": server.restarts,
        "server_peak_growth_mb": round(server.growth),
        "cli_cases": len(cli),
        "cli_failures": sum(bool(r["failure"]) for r in cli),
        "cli_max_rss_mb": max((r["max_rss_mb"] or 0) for r in cli),
        "failed": [r for r in api + cli if r["failure"]],
    }
    (tmp_path / "fuzz.json").write_text(json.dumps(report, indent=1))
    print("\nfuzz:", json.dumps({k: v for k, v in report.items() if k != "failed"}))
    for row in report["failed"]:
        print("  FAILED", row["case"], "->", row["failure"])
    assert text == "two"  # the server still answers, correctly
    assert report["failed"] == [] and server.restarts == 0
    assert server.growth < MAX_GROWTH_MB
    assert report["cli_max_rss_mb"] < 2048
