"""The demo's models: the picker's checkpoint list, each model's paragraph from the
model card, and the cache of loaded models (each starts reading its LM at once).

The page and the API know models by name (``digits.pt``), never by their path on
the server; an unknown or unloadable model is a ``gr.Error``, shown in the page.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import gradio as gr

import asr

from ..model.checkpoint import MODELS_DIR  # the shipped models, data/models/


def list_models(models_dir: Path = MODELS_DIR, extra: str | None = None) -> list[str]:
    """Checkpoint paths for the picker: ``extra`` (given with --model) first, then
    ``default.pt``, then the other ``*.pt`` files of ``models_dir`` by name."""
    found = sorted(
        models_dir.glob("*.pt"), key=lambda p: (p.name != "default.pt", p.name)
    )
    paths = [str(p) for p in found]
    if extra:
        paths = [str(extra)] + [
            p for p in paths if Path(p).resolve() != Path(extra).resolve()
        ]
    return paths


def model_summary(path: str, card: Path = MODELS_DIR / "README.md") -> str:
    """The model card's paragraph for ``path``: the first paragraph after a heading
    that names the file, else the card's first paragraph."""
    if not card.exists():
        return f"`{Path(path).name}` (no model card at {card.name})"
    sections = re.split(r"^#+ .*$", card.read_text(encoding="utf-8"), flags=re.M)
    headings = re.findall(r"^#+ (.*)$", card.read_text(encoding="utf-8"), flags=re.M)
    chosen = sections[1] if len(sections) > 1 else sections[0]
    for heading, body in zip(headings, sections[1:], strict=True):
        if Path(path).name in heading:
            chosen = body
            break
    paragraphs = [p.strip() for p in chosen.split("\n\n") if p.strip()]
    return paragraphs[0] if paragraphs else f"`{Path(path).name}`"


class ModelCache:
    """Loaded models by name, so switching back and forth is instant. The page and
    the API know models by name (``digits.pt``), never by their path on the server.
    """

    def __init__(
        self, paths: list[str], device: str = "cpu", threads: int | None = None
    ):
        self.paths = paths  # checkpoint files; paths[0] is the default
        self.names = model_names(paths)  # what the picker offers, in the same order
        self.device = device
        self.threads = (
            threads  # torch CPU threads (asr.core.cpu; None: $ASR_THREADS or 1)
        )
        self.models: dict[str, asr.ASRModel] = {}
        self.lock = threading.Lock()

    def get(self, name: str | None) -> asr.ASRModel:
        """The model called ``name``; a newly loaded one starts reading its LM (if
        it ships decoder settings) in a background thread, so that requests need
        not wait for it (one that comes sooner waits for the load to finish)."""
        name = name or self.names[0]
        if name in self.paths:  # the server's own callers may name the file
            name = self.names[self.paths.index(name)]
        if name not in self.names:
            raise gr.Error(f"Unknown model {name[:40]!r}; choose one of {self.names}.")
        with self.lock:
            if name not in self.models:
                path = self.paths[self.names.index(name)]
                try:
                    self.models[name] = asr.load_model(
                        path, device=self.device, threads=self.threads
                    )
                except asr.CheckpointError:
                    raise gr.Error(f"Cannot load that model ({name}).") from None
                self.warm(self.models[name])
            return self.models[name]

    @staticmethod
    def warm(model: asr.ASRModel) -> threading.Thread:
        """Build ``model``'s default decoder (reading its LM) in the background."""
        thread = threading.Thread(
            target=lambda: model.default_decoder, name="asr-lm-load", daemon=True
        )
        thread.start()
        return thread


def model_names(paths: list[str]) -> list[str]:
    """Each checkpoint's file name, with its folder when two share a name."""
    names = [Path(p).name for p in paths]
    return [n if names.count(n) == 1 else f"{Path(p).parent.name}/{n}"
            for n, p in zip(names, paths, strict=True)]  # fmt: skip
