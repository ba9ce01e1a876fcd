"""The shipped default model on the committed sample recordings (FSDD test split)."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

import asr
from asr.cli import main
from asr.transcribe import DEFAULT_MODEL
from conftest import ROOT

SAMPLES = sorted((ROOT / "data" / "samples").glob("*.wav"))
WORDS = "zero one two three four five six seven eight nine".split()

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


def expected(path) -> str:
    return WORDS[int(re.match(r"(\d)_", path.name).group(1))]


def test_default_model_loads_with_no_argument():
    model = asr.load_model()
    assert model.tokenizer.vocab[0] == "<blank>"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_are_transcribed_right(path):
    assert asr.load_model().transcribe(path) == expected(path)


def test_cli_prints_every_digit(capsys):
    assert main(["transcribe", *map(str, SAMPLES)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in lines] == [expected(p) for p in SAMPLES]


def test_stereo_44k_array_and_silence():
    wave, rate = sf.read(SAMPLES[0], dtype="float32")
    up = torchaudio.functional.resample(torch.from_numpy(wave), rate, 44100).numpy()
    stereo = np.stack([up, up], axis=1)
    model = asr.load_model()
    assert model.transcribe(stereo, sample_rate=44100) == expected(SAMPLES[0])
    assert model.transcribe(np.zeros(16000, np.float32)) == ""
