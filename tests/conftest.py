"""Shared fixtures: the committed recordings in tests/data and a tiny random model."""

from pathlib import Path

import pytest

from asr.audio import Frontend, FrontendConfig
from asr.checkpoint import model_state, save_checkpoint
from asr.model import Encoder, ModelConfig
from asr.text import CharTokenizer

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
DIGITS = {  # committed FSDD test-split takes and what is said in them
    "2_jackson_1.wav": "two",
    "4_theo_2.wav": "four",
    "6_lucas_0.wav": "six",
    "8_george_3.wav": "eight",
}
KATHLEEN = (DATA / "arctic_a0001.flac", "Author of the danger trail, Philip Steels, etc.")

TINY = ModelConfig(conv_channels=4, hidden_size=16, num_layers=1, dropout=0.0)


@pytest.fixture
def digit_paths() -> list[Path]:
    return [DATA / name for name in DIGITS]


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A randomly initialised, tiny but complete checkpoint."""
    frontend_config = FrontendConfig()
    encoder = Encoder(TINY)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model_state(encoder, frontend_config, CharTokenizer().vocab))
    return path


@pytest.fixture
def frontend() -> Frontend:
    return Frontend(FrontendConfig())
