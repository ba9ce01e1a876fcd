"""recipes/*/run.sh: option parsing and every stage, end to end on a tiny FSDD."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from asr.model.checkpoint import load_checkpoint

RUN_SCRIPTS = sorted(ROOT.glob("recipes/*/run.sh"))


def run(script, *args, cwd=ROOT):
    env = {**os.environ, "PYTHON": sys.executable, "TQDM_DISABLE": "1"}
    return subprocess.run(["bash", str(script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_every_dataset_has_a_recipe():
    names = {p.parent.name for p in RUN_SCRIPTS}
    expected = {"librispeech", "commonvoice", "ljspeech", "tedlium", "vctk", "an4",
                "kathleen", "vctk_p239", "fsdd", "english", "commands"}  # fmt: skip
    assert names == expected
    for script in RUN_SCRIPTS:
        assert (script.parent / "prepare.py").exists()
        assert (script.parent / "README.md").exists(), script.parent.name


@pytest.mark.parametrize("script", RUN_SCRIPTS, ids=lambda p: p.parent.name)
def test_run_sh_rejects_unknown_options(script):
    result = run(script, "--no-such-option", "1")
    assert result.returncode == 2
    assert "unknown option --no-such-option" in result.stderr
    assert run(script, "--help").returncode == 0


def tiny_fsdd(tmp_path):
    source = tmp_path / "recordings"
    source.mkdir()
    for take in (0, 7, 20):
        for name in ("2_jackson_1.wav", "8_george_3.wav"):
            digit, speaker, _ = name[:-4].split("_")
            shutil.copy(DATA / name, source / f"{digit}_{speaker}_{take}.wav")
    return source


def test_stages_are_selected(tmp_path, tiny_checkpoint):
    """--stage/--stop-stage pick stages: 0 alone prepares, 3 alone exports."""
    data, exp = tmp_path / "data", tmp_path / "exp"
    script = ROOT / "recipes/fsdd/run.sh"
    source = tiny_fsdd(tmp_path)
    result = run(script, "--stage", 0, "--stop-stage", 0, "--source", source,
                 "--data-dir", data, "--exp-dir", exp)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "stage 0" in result.stdout and "stage 1" not in result.stdout
    assert len((data / "test.jsonl").read_text().splitlines()) == 2
    assert not exp.exists()
    exp.mkdir()
    shutil.copy(tiny_checkpoint, exp / "best.pt")
    exported = tmp_path / "m.pt"
    result = run(script, "--stage", 3, "--exp-dir", exp, "--export-to", exported)
    assert result.returncode == 0 and "stage 2" not in result.stdout
    assert exported.read_bytes() == tiny_checkpoint.read_bytes()


@pytest.mark.slow
def test_fsdd_run_sh_all_stages(tmp_path):
    """prepare -> train one tiny epoch -> evaluate -> export, with every path
    overridden; then only stage 2 again, which must not retrain (about a minute)."""
    source = tiny_fsdd(tmp_path)
    data, exp = tmp_path / "data", tmp_path / "exp"
    result = run(
        ROOT / "recipes/fsdd/run.sh", "--source", source, "--data-dir", data,
        "--exp-dir", exp, "--epochs", 1, "--hidden-size", 8, "--num-layers", 1,
        "--num-workers", 0, "--export-to", tmp_path / "fsdd.pt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [f"stage {n}" in result.stdout for n in range(4)] == [True] * 4
    report = json.loads((exp / "results" / "data_test.json").read_text())
    assert report["utterances"] == 2 and 0 <= report["wer"]
    exported = load_checkpoint(tmp_path / "fsdd.pt")
    assert "optimizer" not in exported and exported["model"]
    again = run(ROOT / "recipes/fsdd/run.sh", "--stage", 2, "--stop-stage", 2,
                "--data-dir", data, "--exp-dir", exp)  # fmt: skip
    assert again.returncode == 0 and "stage 1" not in again.stdout
    assert "WER" in again.stdout


def test_english_training_stage_on_cpu_and_on_gpus():
    """The English recipe trains one single-thread process per core under torchrun
    on CPU, and one rank per GPU with bf16 (the commands, not a training)."""
    script = ROOT / "recipes/english/run.sh"
    env = {**os.environ, "PYTHON": "echo"}
    cpu = subprocess.run(["bash", str(script), "--stage", "2", "--stop-stage", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                         ).stdout.split()  # fmt: skip
    cores = subprocess.run(["nproc"], env=env, capture_output=True, text=True).stdout
    if int(cores) > 1:  # nproc: what run.sh counts
        assert cpu[:5] == ["-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", cores.strip()]  # fmt: skip
    assert cpu[cpu.index("--threads") + 1] == "1"
    assert cpu[cpu.index("--device") + 1] == "cpu" and "--resume" in cpu
    defaults = [("--batch-size", "16"), ("--max-batch-seconds", "80"),
                ("--num-workers", "1"), ("--dev-every-steps", "250"),
                ("--keep-last", "0")]  # fmt: skip
    for flag, value in defaults:
        assert cpu[cpu.index(flag) + 1] == value
    gpu = subprocess.run(
        ["bash", str(script), "--stage", "2", "--stop-stage", "2", "--ranks", "4",
         "--threads", "1", "--device", "cuda", "--precision", "bf16", "--init-from",
         "data/models/default.pt", "--data", "data/other", "--speed-factors",
         "0.9 1.0 1.1", "--batch-size", "32", "--workers", "7", "--dev-every", "1000",
         "--keep-last", "3", "--time-strides", "2 1"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert gpu[:5] == ["-m", "torch.distributed.run", "--standalone",
                       "--nproc-per-node", "4"]  # fmt: skip
    for flag, value in [("--device", "cuda"), ("--precision", "bf16"),
                        ("--init-from", "data/models/default.pt"),
                        ("--train-manifest", "data/other/train.jsonl"),
                        ("--dev-manifest", "data/other/dev.jsonl"),
                        ("--batch-size", "32"), ("--max-batch-seconds", "160"),
                        ("--num-workers", "7"), ("--keep-last", "3"),
                        ("--dev-every-steps", "1000")]:  # fmt: skip
        assert gpu[gpu.index(flag) + 1] == value
    strides = cpu.index("--time-strides")
    assert cpu[strides + 1 : strides + 3] == ["2", "2"]  # 40 ms frames by default
    strides = gpu.index("--time-strides")
    assert gpu[strides + 1 : strides + 3] == ["2", "1"]
    speeds = gpu.index("--speed-factors")
    assert gpu[speeds + 1 : speeds + 4] == ["0.9", "1.0", "1.1"]


def test_english_export_tunes_beam_and_weights_within_a_speed_budget(tmp_path):
    """Stage 4 copies best.pt and grid-searches beam size, LM weight and word score
    on the dev set only, choosing within --max-rtf (the command, not a search)."""
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "best.pt").write_bytes(b"weights")
    export = tmp_path / "models" / "english.pt"
    export.parent.mkdir()
    (tmp_path / "models" / "english.decoder.json").write_text("{}")  # for its ls -l
    env = {**os.environ, "PYTHON": "echo"}
    out = subprocess.run(
        ["bash", str(ROOT / "recipes/english/run.sh"), "--stage", "4",
         "--stop-stage", "4", "--exp", str(exp), "--export-to", str(export)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert export.read_bytes() == b"weights"
    words = out.split()
    assert words[words.index("--manifest") + 1] == "data/english/dev.jsonl"
    beams = words.index("--beam-sizes")
    assert words[beams + 1 : beams + 4] == ["50", "100", "200"]
    assert words[words.index("--max-rtf") + 1] == "0.025"


def test_english_stage_one_labels_the_untranscribed_readers_once(tmp_path):
    """Stage 1 runs asr pseudo-label (Whisper base, filtered by the student's CTC
    score) while its labels are missing, then prepares manifests that use them."""
    script = ROOT / "recipes/english/run.sh"
    env = {**os.environ, "PYTHON": "echo"}
    pseudo = tmp_path / "labels.jsonl"
    argv = ["bash", str(script), "--stage", "1", "--stop-stage", "1",
            "--pseudo", str(pseudo), "--pseudo-repeat", "2"]  # fmt: skip
    lines = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()  # fmt: skip
    label, prepare = lines[0].split(), lines[1].split()
    assert label[:3] == ["-m", "asr", "pseudo-label"]
    assert label[label.index("-o") + 1] == str(pseudo)
    assert label[label.index("--teacher") + 1] == "whisper-base"
    assert prepare[prepare.index("--pseudo-manifest") + 1] == str(pseudo)
    assert prepare[prepare.index("--pseudo-repeat") + 1] == "2"
    pseudo.write_text("")  # labels exist: not made again
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()  # fmt: skip
    assert len(again) == 1 and "prepare.py" in again[0]
