import os
import pickle
import random

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY

from asr.audio.features import FrontendConfig
from asr.core.text import CharTokenizer
from asr.inference.transcribe import load_model
from asr.model.checkpoint import (
    CheckpointError,
    average_checkpoints,
    load_checkpoint,
    model_state,
)
from asr.model.encoder import Encoder
from asr.training.checkpoint import (
    portable_paths,
    remove_stale_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def test_round_trip(tiny_checkpoint):
    model = load_model(tiny_checkpoint)
    state = load_checkpoint(tiny_checkpoint)
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, state["model"][name])
    assert model.tokenizer.vocab == state["vocab"]
    assert model.encoder.config.hidden_size == 16


def test_truncated_checkpoint(tiny_checkpoint, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(broken)


def test_missing_and_garbage(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_model(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError):
        load_model(garbage)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


# the raw pickle below uses protocol 4, which torch's safe loader notes before refusing
@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4:UserWarning")
def test_pickle_that_runs_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "payload": RunsCode()}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)


def test_format_version_and_keys(tmp_path, tiny_checkpoint):
    state = load_checkpoint(tiny_checkpoint)
    future = tmp_path / "future.pt"
    torch.save({**state, "format_version": 99}, future)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(future)
    partial = tmp_path / "partial.pt"
    torch.save({"format_version": 1}, partial)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(partial)


def test_mismatched_weights(tmp_path, tiny_checkpoint):
    state = load_checkpoint(tiny_checkpoint)
    state["model_config"]["hidden_size"] = 32
    path = tmp_path / "mismatch.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(path)


def test_save_is_atomic(tmp_path, tiny_checkpoint, monkeypatch):
    """A crash while writing leaves the previous file intact and no temp files."""
    state = load_checkpoint(tiny_checkpoint)
    target = tmp_path / "last.pt"
    save_checkpoint(target, state)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(target, state)
    assert target.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def _tiny_state(value: float, counter: int) -> dict:
    encoder = Encoder(TINY)
    with torch.no_grad():
        for p in encoder.parameters():
            p.fill_(value)
    state = model_state(encoder, FrontendConfig(), CharTokenizer().vocab)
    for tensor in state["model"].values():
        if not tensor.is_floating_point():
            tensor.fill_(counter)  # BatchNorm's num_batches_tracked
    return state


def test_average_of_two_checkpoints(tmp_path):
    save_checkpoint(tmp_path / "a.pt", {**_tiny_state(1.0, 10), "optimizer": {}})
    save_checkpoint(tmp_path / "b.pt", _tiny_state(4.0, 20))
    averaged = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    weight = averaged["model"]["head.weight"]
    assert torch.equal(weight, torch.full_like(weight, 2.5))  # (1 + 4) / 2
    counter = averaged["model"]["subsampling.blocks.0.1.num_batches_tracked"]
    assert counter.item() == 20  # integers come from the last checkpoint
    assert averaged["averaged_from"] == ["a.pt", "b.pt"] and "optimizer" not in averaged


def test_asr_average_command_writes_a_loadable_checkpoint(tmp_path, capsys):
    from asr.cli import main
    from asr.inference.transcribe import load_model

    for name, value in (("a.pt", 0.0), ("b.pt", 1.0), ("c.pt", 2.0)):
        save_checkpoint(tmp_path / name, _tiny_state(value, 1))
    paths = [str(tmp_path / n) for n in ("a.pt", "b.pt", "c.pt")]
    assert main(["average", *paths, "--out", str(tmp_path / "avg.pt")]) == 0
    weight = load_checkpoint(tmp_path / "avg.pt")["model"]["head.bias"]
    assert torch.allclose(weight, torch.ones_like(weight))
    assert load_model(tmp_path / "avg.pt").encoder.config == TINY
    other = _tiny_state(0.0, 1)
    other["model_config"] = {**other["model_config"], "hidden_size": 8}
    save_checkpoint(tmp_path / "other.pt", other)
    assert main(["average", paths[0], str(tmp_path / "other.pt"), "--out",
                 str(tmp_path / "x.pt")]) == 1  # fmt: skip
    assert "a different model" in capsys.readouterr().err


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_checkpoint(tmp_path / "s.pt", {**_tiny_state(0.0, 0), "rng": rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "s.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1]
    assert torch.equal(got[2], expected[2])


def test_stale_temporaries_of_a_killed_save_are_removed(tmp_path):
    save_checkpoint(tmp_path / "last.pt", _tiny_state(0.0, 0))
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"torn")
    assert remove_stale_temporaries(tmp_path) == [tmp_path / ".last.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_config_paths_under_the_project_are_stored_relative(tmp_path):
    config = {"train_manifest": str(tmp_path / "data" / "train.jsonl"),
              "noise_dir": "/elsewhere/noise", "lr": 0.002, "name": "run",
              "augment": {"paths": [str(tmp_path / "exp" / "a")]}}  # fmt: skip
    assert portable_paths(config, tmp_path) == {
        "train_manifest": "data/train.jsonl", "noise_dir": "/elsewhere/noise",
        "lr": 0.002, "name": "run", "augment": {"paths": ["exp/a"]}}  # fmt: skip


@pytest.mark.parametrize("name", ["default.pt", "digits.pt"])
def test_shipped_checkpoints_name_no_machine_paths(name):
    path = ROOT / "data" / "models" / name
    if not path.exists():
        pytest.skip(f"{path} is not here")
    state = torch.load(path, map_location="cpu", weights_only=True)

    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, (list, tuple)):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    meta = {k: v for k, v in state.items() if k != "model"}
    assert not [s for s in strings(meta) if os.path.isabs(s)]
