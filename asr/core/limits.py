"""The ranges a model file's settings may take, and the check that rebuilds a config
dataclass from a file's plain dict only after every value is within them: shared by
checkpoints (asr/model/checkpoint.py) and ONNX exports (asr/inference/exported.py),
so a file cannot make the loader allocate without bound. No torch here."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

LIMITS = {  # (low, high) of each whole-number config value a checkpoint may hold
    "n_features": (1, 4096), "vocab_size": (2, 65_536), "conv_channels": (1, 4096),
    "time_strides": (1, 16), "hidden_size": (1, 16_384), "num_layers": (1, 64),
    "sample_rate": (1000, 1_000_000), "n_fft": (16, 65_536), "hop_length": (1, 65_536),
    "n_mels": (1, 1024), "n_mfcc": (1, 1024), "deltas": (0, 2),
}  # fmt: skip
MAX_PARAMETERS = 100_000_000  # weights a model file may ask for (400 MB of float32);
#                               the shipped English model has 3.28 M


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


def checked_config(cls, values):
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
