"""Reading a model written by ``asr export``: a TorchScript pipeline (frontend +
encoder) behind the ``ASRModel`` API."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..core.text import CharTokenizer
from ..model.checkpoint import CheckpointError
from .recognizer import ASRModel

META_FILE = "asr.json"  # extra file in the TorchScript archive: vocab and settings


def is_exported(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive written by ``asr export``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(f"/extra/{META_FILE}") for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


class ScriptedASRModel(ASRModel):
    """An exported TorchScript pipeline behind the ``ASRModel`` API."""

    def __init__(
        self, module: torch.jit.ScriptModule, tokenizer: CharTokenizer, n_fft: int
    ):
        self.module, self.tokenizer, self.n_fft = module.eval(), tokenizer, n_fft
        self.device = torch.device("cpu")
        self.decoder_config = None  # no tuned beam settings travel with an export
        self.min_confidence = 0.0  # as ASRModel
        self.threads = 1  # as ASRModel; load_model sets it

    @property
    def frame_seconds(self) -> float:
        raise RuntimeError("word timestamps need the checkpoint (.pt), not an export")

    def to(self, device: str | torch.device) -> ScriptedASRModel:
        self.device = torch.device(device)
        self.module.to(self.device)
        return self

    @torch.inference_mode()
    def posteriors(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        lens = torch.tensor([len(w) for w in waves])
        batch = torch.zeros(len(waves), max(int(lens.max()), self.n_fft))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        return self.module(batch.to(self.device), lens.to(self.device))


def load_exported(path: str | Path, device: str = "cpu") -> ScriptedASRModel:
    """Load a file written by ``export_torchscript`` (or ``asr export``)."""
    extra = {META_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        meta = json.loads(extra[META_FILE])
    except (RuntimeError, ValueError, OSError) as error:
        raise CheckpointError(f"{path}: not an exported asr model ({error})") from None
    tokenizer = CharTokenizer(meta["vocab"])
    return ScriptedASRModel(module, tokenizer, meta["n_fft"]).to(device)
