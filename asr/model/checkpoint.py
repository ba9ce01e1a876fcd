"""Self-describing checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint is a plain dict of primitives and tensors::

    {"format_version": 1, "model_config": {...}, "frontend_config": {...},
     "vocab": [...], "model": state_dict, "optimizer": ..., "scheduler": ...,
     "step": int, "epoch": int, "train_config": {...}, "metrics": {...}}

so that ``load_checkpoint`` never unpickles code and needs nothing but the file.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..audio.features import FrontendConfig
from ..core.files import MODELS_DIR, CheckpointError, model_file
from ..core.limits import LIMITS, MAX_PARAMETERS, checked_config, config_from_dict
from ..core.text import BLANK, BLANK_TOKEN
from .encoder import RNN_TYPES, Encoder, ModelConfig

FORMAT_VERSION = 1  # bump when the layout of the dict above changes
REQUIRED_KEYS = ("format_version", "model_config", "frontend_config", "vocab", "model")


__all__ = [  # the first five live in asr.core (no torch): the ONNX runtime uses them
    "MODELS_DIR", "CheckpointError", "LIMITS", "checked_config", "config_from_dict",
    "load_checkpoint",
]  # fmt: skip


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint without executing any pickled code.

    Raises:
        CheckpointError: missing, truncated or corrupt file; a pickle that would
            run code; an unknown format version; missing keys.
    """
    path = model_file(path, "checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused, the file holds objects other than tensors and plain "
            f"data ({str(error).splitlines()[0][:200]})"
        ) from None
    except Exception as error:  # torch.load on arbitrary bytes raises many kinds
        reason = (
            str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        )
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({reason})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an asr checkpoint (no dict inside)")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not an asr checkpoint (missing {missing})")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state['format_version']} is not supported "
            f"(this version of asr reads format {FORMAT_VERSION})"
        )
    return state


def model_state(encoder, frontend_config: FrontendConfig, vocab: list[str]) -> dict:
    """The part of a checkpoint that ``load_model`` needs."""
    return {
        "model_config": asdict(encoder.config),
        "frontend_config": asdict(frontend_config),
        "vocab": list(vocab),
        "model": encoder.state_dict(),
    }


def configs_from_state(state: dict, path=None) -> tuple[ModelConfig, FrontendConfig]:
    """The model and frontend configs of a checkpoint, checked before any model is
    built: every value of the right type and within LIMITS, a vocabulary that fits
    the output layer, and weights whose shapes match what the config builds.

    Raises:
        CheckpointError: naming ``path`` and the bad value.
    """
    try:
        model = checked_config(ModelConfig, state["model_config"])
        frontend = checked_config(FrontendConfig, state["frontend_config"])
        _check_vocab(state["vocab"], model)
        if model.n_features != frontend.n_features or frontend.n_mfcc > frontend.n_mels:
            raise ValueError("model and frontend configs disagree on the features")
        if model.rnn_type not in RNN_TYPES:
            kinds = sorted(RNN_TYPES)
            raise ValueError(f"rnn_type {model.rnn_type!r} is not one of {kinds}")
        _check_shapes(model, state["model"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path or 'checkpoint'}: bad config ({error})") from None
    return model, frontend


def _check_vocab(vocab, model: ModelConfig) -> None:
    if not (isinstance(vocab, list) and all(isinstance(t, str) for t in vocab)):
        raise ValueError("vocab is not a list of strings")
    if len(vocab) != model.vocab_size or len(set(vocab)) != len(vocab):
        raise ValueError(f"vocab has {len(vocab)} labels ({len(set(vocab))} distinct), "
                         f"the model {model.vocab_size} outputs")  # fmt: skip
    if vocab[BLANK] != BLANK_TOKEN:
        raise ValueError(f"vocab[{BLANK}] is {vocab[BLANK]!r:.20}, not {BLANK_TOKEN!r}")


def _check_shapes(model: ModelConfig, weights) -> None:
    """Build the encoder on the meta device (no memory) and compare shapes."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Encoder(model).state_dict().items()}
    total = sum(math.prod(shape) for shape in expected.values())
    if total > MAX_PARAMETERS:  # before anything is allocated
        raise ValueError(f"the config asks for {total:,} weights; at most "
                         f"{MAX_PARAMETERS:,} are allowed")  # fmt: skip
    if not isinstance(weights, dict):
        raise ValueError("the weights are not a state dict")
    for name, tensor in weights.items():
        if isinstance(tensor, torch.Tensor):
            _check_storage(name, tensor)
    got = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if got != expected:
        wrong = sorted(set(got) ^ set(expected)) or [
            k for k in expected if got[k] != expected[k]
        ]
        raise ValueError(f"weights do not match the config (first: {wrong[0]})")


def _check_storage(name: str, tensor: torch.Tensor) -> None:
    """Refuse a weight whose elements share memory (a stride-0 view such as
    ``torch.zeros(1).expand(shape)``, which ``weights_only`` loading accepts): a few
    bytes on disk would become the full size once the model copies it."""
    if tensor.numel() == 0:
        return
    needed = tensor.numel() * tensor.element_size()
    if not tensor.is_contiguous() or tensor.untyped_storage().nbytes() < needed:
        raise ValueError(
            f"weight {name} is a view of shared or overlapping memory "
            "(a stride-0 or expanded tensor), not stored values"
        )


def average_checkpoints(paths: list[str | Path]) -> dict[str, Any]:
    """Average the weights of checkpoints of one model (e.g. the last N epochs):
    floating-point tensors are averaged, integer ones (BatchNorm's batch counter)
    taken from the last file, like icefall's and fairseq's ``average_checkpoints``.

    Returns:
        A checkpoint dict (the last file's, without optimizer state) holding the
        averaged weights and ``averaged_from``, the file names.

    Raises:
        CheckpointError: no paths, an unreadable file, or models that differ.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    states = [load_checkpoint(p) for p in paths]
    first = states[0]
    for path, state in zip(paths, states, strict=True):
        if state["model_config"] != first["model_config"] or (
            state["model"].keys() != first["model"].keys()
        ):
            raise CheckpointError(f"{path}: a different model from {paths[0]}")
    averaged = {}
    for name, last in states[-1]["model"].items():
        if last.is_floating_point():
            total = sum(s["model"][name].double() for s in states)
            averaged[name] = (total / len(states)).to(last.dtype)
        else:
            averaged[name] = last.clone()
    result = {k: v for k, v in states[-1].items()
              if k not in ("optimizer", "scheduler", "scaler", "rng")}  # fmt: skip
    return {**result, "model": averaged, "averaged_from": [Path(p).name for p in paths]}
