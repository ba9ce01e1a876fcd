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
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from ..audio.features import FrontendConfig
from ..core.text import BLANK, BLANK_TOKEN
from .encoder import RNN_TYPES, Encoder, ModelConfig

MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"  # shipped ones

FORMAT_VERSION = 1  # bump when the layout of the dict above changes
REQUIRED_KEYS = ("format_version", "model_config", "frontend_config", "vocab", "model")
LIMITS = {  # (low, high) of each whole-number config value a checkpoint may hold
    "n_features": (1, 4096), "vocab_size": (2, 65_536), "conv_channels": (1, 4096),
    "time_strides": (1, 16), "hidden_size": (1, 16_384), "num_layers": (1, 64),
    "sample_rate": (1000, 1_000_000), "n_fft": (16, 65_536), "hop_length": (1, 65_536),
    "n_mels": (1, 1024), "n_mfcc": (1, 1024), "deltas": (0, 2),
}  # fmt: skip


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, unsafe or incompatible."""


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint without executing any pickled code.

    Raises:
        CheckpointError: missing, truncated or corrupt file; a pickle that would
            run code; an unknown format version; missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
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


def config_from_dict(cls, values: dict[str, Any]):
    """Rebuild a frozen config dataclass, restoring tuples that were saved as lists
    and ignoring keys a newer version may have added."""
    known = {f.name for f in fields(cls)}
    kwargs = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in values.items()
        if k in known
    }
    return cls(**kwargs)


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
        model = _checked_config(ModelConfig, state["model_config"])
        frontend = _checked_config(FrontendConfig, state["frontend_config"])
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


def _checked_config(cls, values):
    """``config_from_dict`` after checking each value's type and range."""
    if not isinstance(values, dict):
        raise ValueError(f"{cls.__name__} is not a dict")
    kinds = {"int": int, "float": (int, float), "str": str, "bool": bool}
    for f in fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        items = value if f.type.startswith("tuple") else [value]
        kind = kinds.get(f.type, int)
        is_list = isinstance(value, (list, tuple)) and len(value) > 0
        if f.type.startswith("tuple") and not is_list:
            raise ValueError(f"{f.name} = {value!r:.40} is not a list of numbers")
        for item in items:
            wrong_bool = isinstance(item, bool) and kind is not bool
            if wrong_bool or not isinstance(item, kind):
                raise ValueError(f"{f.name} = {value!r:.40} is not of type {f.type}")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{f.name} = {value!r:.40} is not finite")
            low, high = LIMITS.get(f.name, (-math.inf, math.inf))
            if isinstance(item, (int, float)) and not low <= item <= high:
                raise ValueError(f"{f.name} = {item} is outside [{low}, {high}]")
    return config_from_dict(cls, values)


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
    if not isinstance(weights, dict):
        raise ValueError("the weights are not a state dict")
    got = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if got != expected:
        wrong = sorted(set(got) ^ set(expected)) or [
            k for k in expected if got[k] != expected[k]
        ]
        raise ValueError(f"weights do not match the config (first: {wrong[0]})")


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
