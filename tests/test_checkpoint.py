import os
import pickle

import pytest
import torch

from asr.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from asr.transcribe import load_model


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
