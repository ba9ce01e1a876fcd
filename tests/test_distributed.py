"""A real data-parallel run: two processes under torchrun, gloo backend, on CPU."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from test_train import read_rows, write_digit_manifest

from asr.data.dataset import BucketBatchSampler
from asr.model.checkpoint import load_checkpoint
from asr.training.distributed import DistInfo, all_sum, init_distributed

RANK_SCRIPT = """
import sys, torch
from asr.training import distributed
from asr.training.train import Trainer, build_parser, config_from_args

info, device = distributed.init_distributed("cpu")
cfg = config_from_args(build_parser().parse_args(sys.argv[2:]))
trainer = Trainer(cfg, info, device)
trainer.fit()
state = {"model": trainer.encoder.state_dict(), "world_size": info.world_size,
         "batches": len(trainer.loader.batch_sampler), "step": trainer.progress.step}
torch.save(state, f"{sys.argv[1]}/rank{info.rank}.pt")
distributed.cleanup()
"""


def test_single_process_needs_no_process_group():
    info, device = init_distributed("cpu")
    assert info == DistInfo() and info.is_main and not info.enabled
    assert all_sum([1.0, 2.0], device) == [1.0, 2.0]


def test_two_process_gloo_run_keeps_ranks_in_step(tmp_path):
    manifest = write_digit_manifest(tmp_path / "train.jsonl")
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc-per-node", "2", str(script), str(tmp_path),
         "--train-manifest", str(manifest), "--dev-manifest", str(manifest),
         "--out-dir", str(run), "--epochs", "2", "--batch-size", "1",
         "--num-workers", "0", "--warmup-steps", "1", "--conv-channels", "4",
         "--hidden-size", "16", "--num-layers", "1", "--dropout", "0.1",
         "--time-masks", "1", "--speed-factors", "0.9", "1.0", "1.1"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # both ranks ran, each on half of the 4 one-utterance batches, in step
    assert [(r["world_size"], r["batches"], r["step"]) for r in ranks] == [
        (2, 2, 4)
    ] * 2
    for name, tensor in ranks[0]["model"].items():  # DDP kept the replicas identical
        torch.testing.assert_close(ranks[1]["model"][name], tensor, rtol=0, atol=1e-6)
    last = load_checkpoint(run / "last.pt")  # written by rank 0 alone
    assert (last["world_size"], last["step"], last["epoch"]) == (2, 4, 2)
    assert last["utterances"] == 0 and len(last["rng"]) == 2  # a random state per rank
    for name, tensor in ranks[0]["model"].items():
        assert torch.equal(last["model"][name], tensor)
    rows = read_rows(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2] and rows[0]["dev_wer"] != ""


def test_sampler_shards_cover_an_epoch_with_padding():
    sampler = [
        BucketBatchSampler([1.0] * 5, 1, 10.0, num_replicas=3, rank=r) for r in range(3)
    ]
    seen = [i for s in sampler for batch in s for i in batch]
    assert len(seen) == 6 and set(seen) == set(range(5))  # one batch repeated


@pytest.mark.requires_cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_with_loss_scaling_on_cuda(tmp_path):
    from test_train import tiny_config

    from asr.training.train import train

    train(
        tiny_config(
            tmp_path, epochs=1, precision="fp16", device="cuda", dev_manifest=""
        )
    )
    assert "scale" in load_checkpoint(tmp_path / "run" / "last.pt")["scaler"]
