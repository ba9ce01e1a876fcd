"""Training throughput on CPU, idle and under load: audio seconds trained per wall
second for the English model shape (3x256 BiGRU, conv strides 2 2) on real speech,
with the English recipe's data loading and augmentation on.

    python benchmarks/train_throughput.py --out benchmarks/train_throughput.md

Each setting (threads, ranks, batch size, precision) trains one epoch over the same
subset with ``asr train`` itself in a fresh process, once on the machine as it is
and once beside ``--hog`` spinning processes (``cpuload.busy``) started and stopped
by this script. Before that, a kernel table times one training step of the encoder
(CPU time, one thread) each way it can run: the packed-sequence kernels that
``nn.GRU`` runs on a ``PackedSequence``, ``asr.model.encoder.run_padded`` (the training
default), bf16 autocast and ``torch.compile``, and the features of the same batch
(what caching features would save). Achieved GFLOP/s count the multiply-adds of the
convolutions, recurrent layers and head (x3 for forward + backward) against the
CPU's fp32 peak: cores x 16 FMA lanes x 2 x clock.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cpuload import busy, cpu_mhz, cpu_name, load_average  # noqa: E402

SHAPE = ["--rnn-type", "gru", "--hidden-size", "256", "--num-layers", "3",
         "--conv-channels", "32", "--time-strides", "2", "2"]  # fmt: skip
AUGMENT = ["--noise-prob", "0.2", "--noise-snr-db", "10", "30", "--freq-masks", "2",
           "--freq-mask-width", "8", "--time-masks", "2",
           "--time-mask-width", "10"]  # fmt: skip
# name -> (ranks, threads per rank, OMP_WAIT_POLICY, extra asr train flags)
SETTINGS = {
    "1 process, 2 threads (libgomp's default wait)": (1, 2, "", []),
    "1 process, 2 threads, OMP_WAIT_POLICY=PASSIVE": (1, 2, "PASSIVE", []),
    "1 process, 1 thread": (1, 1, "PASSIVE", []),
    "2 ranks (torchrun, gloo) x 1 thread": (2, 1, "PASSIVE", []),
    "2 ranks x 1 thread, --max-batch-seconds 160": (
        2, 1, "PASSIVE", ["--max-batch-seconds", "160", "--batch-size", "32"]),
    "2 ranks x 1 thread, bf16 autocast": (2, 1, "PASSIVE", ["--precision", "bf16"]),
}  # fmt: skip


def subset(manifest: Path, count: int) -> list[dict]:
    """``count`` utterances spread evenly over the manifest (deterministic)."""
    from asr.data.manifest import read_manifest

    entries = read_manifest(manifest)
    return entries[:: max(1, len(entries) // count)][:count]


def train_once(
    setting: tuple, manifest: Path, out_dir: Path, limit_s: float, audio_s: float
) -> tuple[float, bool]:
    """Audio seconds per second of one epoch of ``asr train`` in a fresh process, and
    whether the run was stopped at ``limit_s`` (the speed is then an upper bound)."""
    ranks, threads, wait, extra = setting
    launcher = [sys.executable, "-m", "asr"]
    if ranks > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc-per-node={ranks}", "-m", "asr"]  # fmt: skip
    cmd = [*launcher, "train", "--train-manifest", str(manifest), "--out-dir",
           str(out_dir), "--epochs", "1", "--save-every-steps", "0", "--batch-size",
           "16", "--max-batch-seconds", "80", "--num-workers", "1", "--warmup-steps",
           "10", "--threads", str(threads), *SHAPE, *AUGMENT, *extra]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": wait, "PYTHONPATH": str(ROOT)}
    try:
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True,
                       timeout=limit_s, start_new_session=True)  # fmt: skip
    except subprocess.TimeoutExpired:
        subprocess.run(["pkill", "-f", str(out_dir)], check=False)
        return audio_s / limit_s, True
    with (out_dir / "metrics.csv").open() as f:
        return float(next(csv.DictReader(f))["audio_sec_per_sec"]), False


def flops_per_audio_second(hidden: int = 256, layers: int = 3) -> float:
    """Multiply-adds x 2 of one forward pass over one second of audio."""
    from asr.audio.features import FrontendConfig
    from asr.model.encoder import ConvSubsampling

    feats = FrontendConfig().n_features
    conv = ConvSubsampling(feats, 32, (2, 2))
    frames_in, frames_out = 100, 25  # 10 ms frames in, x4 subsampling out
    conv_flops = sum(
        2 * c.in_channels * c.out_channels * c.kernel_size[0] * c.kernel_size[1]
        * frames_in / c.stride[0] ** (i + 1) * feats / c.stride[1] ** (i + 1)
        for i, c in enumerate(m for m in conv.modules() if hasattr(m, "kernel_size"))
    )  # fmt: skip
    gates, rnn = 3, 0.0  # GRU: three gates, each input->hidden and hidden->hidden
    inputs = conv.out_features
    for _ in range(layers):
        rnn += 2 * 2 * gates * (inputs + hidden) * hidden  # 2 directions, 2 flops/MAC
        inputs = 2 * hidden
    head = 2 * 2 * hidden * 29
    return conv_flops + frames_out * (rnn + head)


def kernel_table(
    repeats: int = 3, compile_row: bool = True, batch: int = 16
) -> list[str]:
    """CPU seconds (one thread) of one training step of the encoder on a batch of
    ``batch`` x 4-5 s, each way the step can run, and of the features for it."""
    import torch

    from asr.audio.features import Frontend, FrontendConfig
    from asr.model.encoder import Encoder, ModelConfig
    from asr.training.augment import AugmentConfig, SpecAugment

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = ModelConfig(rnn_type="gru", hidden_size=256, num_layers=3,
                         conv_channels=32, time_strides=(2, 2))  # fmt: skip
    encoder = Encoder(config).train()
    waves = 0.1 * torch.randn(batch, 80_000)
    wave_lens = torch.randint(64_000, 80_001, (batch,))
    frontend = Frontend(FrontendConfig())
    spec = SpecAugment(AugmentConfig(freq_masks=2, time_masks=2, time_mask_width=10))
    feats, feat_lens = frontend(waves, wave_lens)

    def step(model, bf16=False):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            log_probs, _ = model(feats, feat_lens)
        log_probs.float().sum().backward()

    def packed():
        Encoder.unpacked_training = False
        try:
            step(encoder)
        finally:
            Encoder.unpacked_training = True

    runs = {
        "encoder step, packed RNN (nn.GRU on a PackedSequence)": packed,
        "encoder step, unpacked RNN (asr.model.encoder.run_padded; training default)":
            lambda: step(encoder),
        "encoder step, unpacked, bf16 autocast": lambda: step(encoder, bf16=True),
    }  # fmt: skip
    if compile_row:
        compiled = torch.compile(encoder)
        runs["encoder step, unpacked, torch.compile"] = lambda: step(compiled)
    runs["features for the batch: MFCC + SpecAugment (what a feature cache saves)"] = (
        lambda: spec(frontend(waves, wave_lens)[0])
    )
    rows = [f"| one training step, {batch} x 4-5 s, 3x256 BiGRU, 1 thread | CPU s "
            "| vs packed |", "|---|---|---|"]  # fmt: skip
    base, times = None, []
    for name, run in runs.items():
        run()  # warm-up (and compilation)
        start = time.process_time()
        for _ in range(repeats):
            run()
        seconds = (time.process_time() - start) / repeats
        base = base or seconds
        times.append(seconds)
        ratio = f"{base / seconds:.2f}x"
        if name.startswith("features"):  # not a way to run the step: its share
            ratio = f"{100 * seconds / times[1]:.0f} % of an unpacked step"
        rows.append(f"| {name} | {seconds:.3f} | {ratio} |")
        print(rows[-1], flush=True)
    return rows


def _speed(speed: float, stopped: bool, limit_s: float) -> str:
    return f"< {speed:.1f} (stopped at {limit_s:.0f} s)" if stopped else f"{speed:.1f}"


def _gflops(speed: float, stopped: bool, flops: float, peak: float) -> str:
    gflops, bound = speed * flops / 1e9, "< " if stopped else ""
    return f"{bound}{gflops:.1f} ({bound}{100 * gflops / peak:.0f} %)"


def _share(loaded: tuple[float, bool], idle: tuple[float, bool]) -> str:
    share = f"{100 * loaded[0] / idle[0]:.0f} %"
    return ("< " + share) if loaded[1] else share


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--manifest", type=Path,
        default=ROOT.parent / "shared/data/speech/kathleen/manifest.jsonl",
        help="JSONL manifest of real speech to train on",
    )  # fmt: skip
    parser.add_argument("--utterances", type=int, default=120, help="subset size")
    parser.add_argument(
        "--limit",
        type=float,
        default=150.0,
        help="stop a run after this many seconds (an upper bound)",
    )
    parser.add_argument("--hog", type=int, default=2,
                        help="spinning processes beside each loaded run")  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=list(range(len(SETTINGS))),
                        type=int, help="which settings (indices) to run")  # fmt: skip
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="4 utterances, one setting, one hog, one kernel repeat (for tests)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="add a torch.compile row to the kernel table (compiling "
        "takes minutes on 2 cores)",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.utterances, args.settings, args.hog = 4, [2], 1
    entries = subset(args.manifest, args.utterances)
    audio_s = sum(e["duration"] for e in entries)
    flops = 3 * flops_per_audio_second()
    peak = 2 * 16 * 2 * cpu_mhz() / 1e3  # GFLOP/s: 2 cores x 16 FMA lanes x 2 flops
    lines = kernel_table(1 if args.smoke else 3, args.compile, 2 if args.smoke else 16)
    lines += ["", "| setting | idle: audio s / s | GFLOP/s (% of peak) | load avg "
              f"| beside {args.hog} spinning processes: audio s / s | share of idle |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        from asr.data.manifest import write_manifest

        manifest = Path(tmp) / "subset.jsonl"
        write_manifest(manifest, entries, relative_to_manifest=False)
        for index in args.settings:
            name, setting = list(SETTINGS.items())[index]
            load = load_average()
            limits = (args.limit, audio_s)
            idle = train_once(setting, manifest, Path(tmp) / f"i{index}", *limits)
            with busy(args.hog):
                loaded = train_once(setting, manifest, Path(tmp) / f"b{index}", *limits)
            lines.append(f"| {name} | {_speed(*idle, args.limit)} | "
                         f"{_gflops(*idle, flops, peak)} | {load:.1f} | "
                         f"{_speed(*loaded, args.limit)} | "
                         f"{_share(loaded, idle)} |")  # fmt: skip
            print(lines[-1], flush=True)
    lines += ["", f"Data: {len(entries)} utterances ({audio_s:.0f} s) of "
              f"`{args.manifest.name}`, one epoch each, one loader worker per rank, "
              f"augmentation as the English recipe. Machine: {cpu_name()}, "
              f"{os.cpu_count()} cores at {cpu_mhz():.0f} MHz, fp32 peak {peak:.0f} "
              f"GFLOP/s; model: {flops / 3 / 1e9:.2f} GFLOP per audio second forward. "
              "`load avg` is the 1-minute load average before the idle "
              "run."]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({"utterances": len(entries), "audio_s": audio_s}))


if __name__ == "__main__":
    main()
