"""Posteriors as numpy arrays, whichever runtime produced them: torch tensors (on any
device) from the PyTorch model, numpy arrays from ONNX Runtime. Imports no torch, so
the decoders that call it run in a torch-free install."""

from __future__ import annotations

import numpy as np


def as_numpy(values) -> np.ndarray:
    """A numpy array of ``values``: a torch tensor is detached and copied to the CPU
    (half precision becomes float32); a numpy array is returned as it is."""
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu()
        if values.is_floating_point():
            values = values.float()
        return values.numpy()
    return np.asarray(values)
