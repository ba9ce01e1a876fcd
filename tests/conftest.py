"""Shared fixtures: the committed recordings in tests/data and a tiny random model."""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import SAMPLE_RATE, load_audio
from asr.core.text import CharTokenizer
from asr.model.checkpoint import model_state
from asr.model.encoder import Encoder, ModelConfig
from asr.training.checkpoint import save_checkpoint

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
DIGITS = {  # committed FSDD test-split takes and what is said in them
    "2_jackson_1.wav": "two",
    "4_theo_2.wav": "four",
    "6_lucas_0.wav": "six",
    "8_george_3.wav": "eight",
}
DIGITS_MODEL = ROOT / "data" / "models" / "digits.pt"  # the shipped FSDD digits model
KATHLEEN = (
    DATA / "arctic_a0001.flac",
    "Author of the danger trail, Philip Steels, etc.",
)


def load_recipe(recipe: str, script: str = "prepare"):
    """recipes/<recipe>/<script>.py as a module (recipes are scripts, not a package)."""
    path = ROOT / "recipes" / recipe / f"{script}.py"
    spec = importlib.util.spec_from_file_location(f"{recipe}_{script}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def lm_cache(tmp_path_factory) -> Path:
    """A cache folder of the test run's own (asr.decoding.lmcache), so that LMs the
    tests write in temporary folders never fill the user's cache; KenLM's
    build_binary, when `make kenlm` has compiled it, is linked in."""
    from asr.decoding import lmcache

    tool = lmcache.build_binary_tool()
    root = tmp_path_factory.mktemp("asr-cache")
    os.environ["ASR_CACHE"] = str(root)  # subprocesses inherit it
    if tool:
        (root / "bin").mkdir()
        (root / "bin" / "build_binary").symlink_to(tool)
    return root


TINY = ModelConfig(conv_channels=4, hidden_size=16, num_layers=1, dropout=0.0)


@pytest.fixture
def digit_paths() -> list[Path]:
    return [DATA / name for name in DIGITS]


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A randomly initialised, tiny but complete checkpoint."""
    import torch

    frontend_config = FrontendConfig()
    torch.manual_seed(0)  # the same weights whichever tests ran before
    encoder = Encoder(TINY)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model_state(encoder, frontend_config, CharTokenizer().vocab))
    return path


@pytest.fixture
def frontend() -> Frontend:
    return Frontend(FrontendConfig())


@pytest.fixture(scope="session")
def digits_checkpoint() -> Path:
    """The real spoken-digits model: $ASR_DIGITS_MODEL, else data/models/digits.pt;
    tests that check recognised digit words skip without it."""
    path = Path(os.environ.get("ASR_DIGITS_MODEL") or DIGITS_MODEL)
    if not path.exists():
        pytest.skip(f"no digits model at {path} (set ASR_DIGITS_MODEL)")
    return path


DIGIT_WORDS = "zero one two three four five six seven eight nine".split()


def digit_speech(names, pause_s: float = 1.0, pad_s: float = 1.5):
    """Committed digit recordings (names in tests/data, or paths such as
    data/samples/3_jackson_0.wav) one after the other with ``pause_s`` of
    silence between and ``pad_s`` at both ends: (samples, reference text, speech
    start s, speech end s), where speech is the first and last 10 ms frame within
    30 dB of the loudest."""
    silence = [np.zeros(int(s * SAMPLE_RATE), np.float32) for s in (pad_s, pause_s)]
    pieces = [silence[0]]
    for name in names:
        pieces += [load_audio(DATA / name), silence[1]]
    pieces[-1] = silence[0]
    wave = np.concatenate(pieces)
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)  # 10 ms frames
    power = (frames**2).mean(axis=1)
    loud = np.flatnonzero(power > power.max() * 10 ** (-30 / 10))
    start, end = loud[0] / 100, (loud[-1] + 1) / 100
    reference = " ".join(DIGIT_WORDS[int(Path(n).name[0])] for n in names)
    return wave, reference, start, end
