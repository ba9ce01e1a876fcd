r"""Speed, memory and accuracy of transcription on real test audio.

    python benchmarks/transcribe.py --model data/models/default.pt --threads 1 \
        --write-readme benchmarks/README.md

Each system runs in its own subprocess (so peak RSS is its own) over the same audio,
loaded into memory at 16 kHz before the clock starts:

- the FSDD test split (takes 0-4; by default takes 0-1, 120 utterances, to keep the
  run to a few minutes on a shared 2-core machine) from the shared data folder, and
- the first ``--vctk-count`` utterances of VCTK speaker p239.

Systems: MFCC extraction alone, greedy decoding with the float model, greedy with
the ONNX export (float and int8, greedy), LM beam search (when ``asr.decoding.beam`` has
``BeamSearchDecoder`` and ``--lm`` is given) and PocketSphinx with its bundled US
English model as the peer. ``greedy``, ``onnx`` and ``onnx-int8`` decode batches of
16 utterances, as ``asr transcribe`` does with many files; their ``/1`` rows decode one
file at a time. Speed is audio seconds per wall-clock second ("x real time"); the
CPU-time column is steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cpuload import busy, cpu_name, load_average, replace_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "speech"  # the shared, read-only data folder
# "/1": one file at a time (batch size 1), as a user who runs a file per call
SYSTEMS = ("mfcc", "greedy", "greedy/1", "onnx", "onnx/1", "onnx-int8", "onnx-int8/1",
           "lm-beam", "pocketsphinx")  # fmt: skip
BATCH_SIZE = 16  # utterances decoded together, as `asr transcribe` does


def load_sets(
    data: Path, vctk_count: int, fsdd_takes: int
) -> dict[str, list[tuple[np.ndarray, str]]]:
    from asr.audio.io import load_audio
    from asr.data.manifest import read_manifest

    fsdd = [e for e in read_manifest(data / "fsdd" / "manifest.jsonl")
            if e["split"] == "test" and e["take"] < fsdd_takes]  # fmt: skip
    vctk = read_manifest(data / "vctk_p239" / "manifest.jsonl")[:vctk_count]
    return {
        f"FSDD test, takes 0-{fsdd_takes - 1} ({len(fsdd)} utt.)": [
            (load_audio(e["audio"]), e["text"]) for e in fsdd
        ],
        f"VCTK p239 (first {vctk_count} utt.)": [
            (load_audio(e["audio"]), e["text"]) for e in vctk
        ],
    }


def make_runner(system: str, args: argparse.Namespace):
    """A function: list of 16 kHz waves -> list of transcripts (None for MFCC);
    ``NAME/1`` decodes one file at a time instead of ``BATCH_SIZE`` together."""
    system, _, one = system.partition("/")
    batch_size = 1 if one == "1" else BATCH_SIZE
    if system == "pocketsphinx":
        from asr.inference.peers import PocketSphinx

        peer = PocketSphinx()

        def sphinx(waves):
            return [peer.transcribe(wave) for wave in waves]

        return sphinx
    import torch

    from asr.inference.transcribe import load_model

    model = load_model(args.model, threads=args.threads)
    if system == "mfcc":

        def mfcc(waves):
            waves = sorted(waves, key=len)  # as transcribe_batch: less padding
            for start in range(0, len(waves), BATCH_SIZE):
                batch = waves[start : start + BATCH_SIZE]
                lens = torch.tensor([len(w) for w in batch])
                padded = torch.zeros(len(batch), int(lens.max()))
                for i, w in enumerate(batch):
                    padded[i, : len(w)] = torch.from_numpy(w)
                model.frontend(padded, lens)
            return None

        return mfcc
    if system in ("onnx", "onnx-int8"):  # greedy on ONNX Runtime, float or int8
        import tempfile

        from asr.inference.export import export_onnx
        from asr.inference.exported import load_onnx

        path = Path(tempfile.mkdtemp()) / "model.onnx"
        export_onnx(model, path, quantize="int8" if system == "onnx-int8" else None)
        model = load_onnx(path)
    if system == "lm-beam":
        return lm_beam_runner(model, args)
    return lambda waves: model.transcribe_batch(
        waves, batch_size=batch_size, decoder="greedy"
    )


def lm_beam_runner(model, args):
    """LM beam search: over ``--lm`` with default settings, else with the decoder
    the model ships (its ``.decoder.json``)."""
    from asr.decoding.beam import BeamSearchDecoder

    if args.lm is not None:
        decoder = BeamSearchDecoder(model.tokenizer.vocab, lm=args.lm)
    elif model.decoder_config is not None:
        decoder = model.beam_decoder()
    else:
        raise NotImplementedError("no --lm given and the model ships no decoder")
    return lambda waves: model.transcribe_batch(waves, batch_size=BATCH_SIZE,
                                                decoder=decoder)  # fmt: skip


def save_sets(sets: dict, path: Path) -> None:
    """Store the loaded audio so that each child reads it without torch/torchaudio
    (PocketSphinx's peak RSS is then its own, not torch's)."""
    arrays = {
        f"{k}/{i}": w for k, items in sets.items() for i, (w, _) in enumerate(items)
    }
    refs = {k: [t for _, t in items] for k, items in sets.items()}
    np.savez(path, refs=json.dumps(refs), **arrays)


def read_sets(path: Path) -> dict[str, list[tuple[np.ndarray, str]]]:
    with np.load(path) as stored:
        refs = json.loads(str(stored["refs"]))
        return {k: [(stored[f"{k}/{i}"], t) for i, t in enumerate(texts)]
                for k, texts in refs.items()}  # fmt: skip


def peak_rss_kb() -> int:
    """This process's peak resident set size (VmHWM). Not ``ru_maxrss``: Linux
    carries that across exec, so a child would report its parent's peak."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def child(args: argparse.Namespace) -> None:
    """Run one system over every set; print one JSON line."""
    if args.child != "pocketsphinx":
        import torch

        torch.set_num_threads(args.threads)
    sets = read_sets(args.audio_cache)
    try:
        run = make_runner(args.child, args)
    except NotImplementedError as reason:
        print(json.dumps({"skipped": str(reason)}))
        return
    run([sets[next(iter(sets))][0][0]])  # warm-up: one utterance, not timed
    report = {}
    for name, items in sets.items():
        waves, refs = [w for w, _ in items], [t for _, t in items]
        wall, cpu = time.perf_counter(), time.process_time()
        hyps = run(waves)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report[name] = {
            "audio_s": sum(len(w) for w in waves) / 16000,
            "wall_s": wall, "cpu_s": cpu, "refs": refs, "hyps": hyps,
        }  # fmt: skip
    report["max_rss_mb"] = peak_rss_kb() / 1024
    print(json.dumps(report))


def measure(system: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        system,
        "--model",
        str(args.model),
        "--audio-cache",
        str(args.audio_cache),
        "--threads",
        str(args.threads),
    ] + (["--lm", str(args.lm)] if args.lm else [])
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{system} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def speed(audio_s: float, spent_s: float) -> str:
    """Audio seconds per second spent, e.g. '160×' or '0.35×'."""
    ratio = audio_s / max(spent_s, 1e-9)
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def table(results: dict[str, dict]) -> list[str]:
    from asr.core.metrics import wer

    rows = ["| system | test audio | audio | wall | × real time | × real time (CPU) "
            "| peak RSS | WER |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for system, report in results.items():
        if "skipped" in report:
            rows.append(f"| {system} | | | | not run: {report['skipped']} | | | |")
            continue
        for name, r in report.items():
            if name == "max_rss_mb":
                continue
            score = (
                "" if r["hyps"] is None else f"{100 * wer(r['refs'], r['hyps']):.1f} %"
            )
            rows.append(
                f"| {system} | {name} | {r['audio_s']:.0f} s | {r['wall_s']:.2f} s | "
                f"{speed(r['audio_s'], r['wall_s'])} | "
                f"{speed(r['audio_s'], r['cpu_s'])} | "
                f"{report['max_rss_mb']:.0f} MB | {score} |"
            )
    return rows


# -- per-file transcription as a user runs it, idle and under load -----------------

THREAD_SETTINGS = {  # name -> (processes, threads each, OMP_WAIT_POLICY)
    "2 threads, libgomp's default wait (torch's default)": (1, 2, ""),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": (1, 2, "PASSIVE"),
    "1 thread (asr's default)": (1, 1, "PASSIVE"),
    "2 processes x 1 thread, files split between them": (2, 1, "PASSIVE"),
}


def per_file_child(args: argparse.Namespace) -> None:
    """Transcribe each file of --files one at a time, as ``asr.load_model()
    .transcribe(path, decoder="greedy")`` does for a user (greedy, as the recorded
    figures were); print audio and wall seconds as JSON."""
    import asr

    files = json.loads(args.files)
    model = asr.load_model(args.model, threads=args.threads)
    model.transcribe(files[0][0], decoder="greedy")  # warm-up, not timed
    started = time.perf_counter()
    for path, _ in files:
        model.transcribe(path, decoder="greedy")
    wall = time.perf_counter() - started
    print(json.dumps({"audio_s": sum(d for _, d in files), "wall_s": wall}))


def per_file_speed(setting: tuple, files: list, args: argparse.Namespace) -> float:
    """Audio seconds per wall second of one setting (all its processes together)."""
    processes, threads, wait = setting
    env = {**os.environ, "OMP_WAIT_POLICY": wait, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                "per-file",
                "--model",
                str(args.model),
                "--threads",
                str(threads),
                "--files",
                json.dumps(files[i::processes]),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(processes)
    ]
    reports = [
        json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children
    ]
    return sum(r["audio_s"] for r in reports) / max(r["wall_s"] for r in reports)


def per_file_table(args: argparse.Namespace) -> list[str]:
    """x real time of each thread setting, idle and beside ``--hog`` spinning
    processes, on the first ``--per-file`` VCTK p239 recordings."""
    from asr.data.manifest import read_manifest

    entries = read_manifest(args.data / "vctk_p239" / "manifest.jsonl")
    files = [(e["audio"], e["duration"]) for e in entries[: args.per_file]]
    rows = ["| threads | idle: × real time | load avg | beside "
            f"{args.hog} spinning processes: × real time | share of idle |",
            "|---|---|---|---|---|"]  # fmt: skip
    settings = THREAD_SETTINGS.items()
    if args.smoke:
        settings = [(k, v) for k, v in settings if v == (1, 1, "PASSIVE")]
    for name, setting in settings:
        load = load_average()
        idle = per_file_speed(setting, files, args)
        with busy(args.hog):
            loaded = per_file_speed(setting, files, args)
        rows.append(f"| {name} | {idle:.0f}× | {load:.1f} | {loaded:.1f}× | "
                    f"{100 * loaded / idle:.0f} % |")  # fmt: skip
        print(rows[-1], flush=True)
    rows += ["", f"{len(files)} VCTK p239 files, each read, resampled and transcribed "
             "greedily on its own by `asr.load_model(threads=N).transcribe(path)` "
             f"after one warm-up file; {cpu_name()}, {os.cpu_count()} cores. `load "
             "avg` is the 1-minute load average before the idle run."]  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "data/models/default.pt",
        help="checkpoint to benchmark (default: the shipped default "
        "English model, which the README's figures used)",
    )
    parser.add_argument(
        "--lm", type=Path, default=None, help="ARPA LM for the beam row"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="shared speech folder")
    parser.add_argument("--vctk-count", type=int, default=20, help="VCTK utterances")
    parser.add_argument(
        "--fsdd-takes",
        type=int,
        default=2,
        help="FSDD test takes 0..N-1 (5: the whole test split)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="which to run")
    parser.add_argument(
        "--write-readme",
        type=Path,
        default=None,
        help="write the results table into this Markdown file",
    )
    parser.add_argument(
        "--per-file", type=int, default=0,
        help="instead of the systems table: time N VCTK files one at a time with "
        "each thread setting, idle and under load (the README used 40)",
    )  # fmt: skip
    parser.add_argument(
        "--hog",
        type=int,
        default=2,
        help="spinning processes beside each loaded --per-file run",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="--per-file 2 with one thread setting and one hog (tests)",
    )
    parser.add_argument("--files", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--audio-cache", type=Path, default=None, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.child == "per-file":
        per_file_child(args)
        return
    if args.child:
        child(args)
        return
    if args.smoke:
        args.per_file, args.hog = 2, 1
    if args.per_file:
        rows = per_file_table(args)
        print("\n".join(rows))
        if args.write_readme:
            command = " ".join(["python benchmarks/transcribe.py", *sys.argv[1:]])
            replace_section(args.write_readme, ["# Per-file transcription speed", "",
                            "```bash", command, "```", "", *rows, ""])  # fmt: skip
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        args.audio_cache = Path(tmp) / "audio.npz"
        save_sets(
            load_sets(args.data, args.vctk_count, args.fsdd_takes), args.audio_cache
        )
        results = {s: measure(s, args) for s in args.systems.split(",")}
    rows = table(results)
    command = " ".join(["python benchmarks/transcribe.py", *sys.argv[1:]])
    print("\n".join(rows))
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
    if args.write_readme:
        write_readme(args.write_readme, rows, command, args)


def write_readme(path: Path, rows: list[str], command: str, args) -> None:
    import torch

    machine = (
        f"{platform.processor() or platform.machine()}, 2 CPU cores shared with "
        f"other jobs, torch {torch.__version__} with {args.threads} thread(s)"
    )
    replace_section(path, [
        "# Transcription benchmark", "",
        "Produced by:", "", "```bash", command, "```", "",
        f"Machine: {machine}. Checkpoint: `{args.model}`. Audio is loaded at 16 kHz "
        "before timing; each system runs in its own process (peak RSS is that "
        "process's, Python and torch included).", "",
        *rows, "",
        "`× real time` = seconds of audio per second of wall-clock time; the CPU "
        "column divides by the process's CPU time instead, which is steadier on a "
        "shared machine. `mfcc` is feature extraction alone. PocketSphinx uses its "
        "bundled US English acoustic model, language model and dictionary.", "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
