"""The shipped models: the spoken-digits model (data/models/digits.pt) on the
committed sample recordings (FSDD test split), and what any default model
(data/models/default.pt, general English) must offer. Each part skips without its
file."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import DIGITS_MODEL, KATHLEEN, ROOT

import asr
from asr.cli import main
from asr.decoding.settings import read_decoder_config
from asr.inference.transcribe import DEFAULT_MODEL

SAMPLES = sorted((ROOT / "data" / "samples").glob("*.wav"))
WORDS = "zero one two three four five six seven eight nine".split()


def expected(path) -> str:
    return WORDS[int(re.match(r"(\d)_", path.name).group(1))]


# -- the digits model --------------------------------------------------------------


@pytest.fixture(scope="module")
def digits(digits_checkpoint):
    return asr.load_model(digits_checkpoint)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_are_transcribed_right(digits, path):
    assert digits.transcribe(path) == expected(path)


def test_cli_prints_every_digit(digits_checkpoint, capsys):
    code = main(["transcribe", "--model", str(digits_checkpoint), *map(str, SAMPLES)])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in lines] == [expected(p) for p in SAMPLES]


def test_stereo_44k_array_and_silence(digits):
    wave, rate = sf.read(SAMPLES[0], dtype="float32")
    up = torchaudio.functional.resample(torch.from_numpy(wave), rate, 44100).numpy()
    stereo = np.stack([up, up], axis=1)
    assert digits.transcribe(stereo, sample_rate=44100) == expected(SAMPLES[0])
    assert digits.transcribe(np.zeros(16000, np.float32)) == ""


@pytest.mark.skipif(not DIGITS_MODEL.exists(), reason=f"no {DIGITS_MODEL}")
def test_digits_model_finds_its_own_decoder_config():
    """digits.pt gets digits.decoder.json (beam over digits.arpa), which names it."""
    digits = asr.load_model(DIGITS_MODEL)
    assert digits.decoder_config == DIGITS_MODEL.with_name("digits.decoder.json")
    assert json.loads(digits.decoder_config.read_text())["model"] == "digits.pt"
    lm = read_decoder_config(digits.decoder_config)["lm"]
    assert lm == str(DIGITS_MODEL.with_name("digits.arpa"))
    log_probs, out_lens = digits.posteriors([asr.load_audio(SAMPLES[0])])
    assert digits.beam_decoder()(log_probs, out_lens) == [expected(SAMPLES[0])]


# -- the default model (general English) ---------------------------------------------

needs_default = pytest.mark.skipif(
    not DEFAULT_MODEL.exists(), reason=f"no default model at {DEFAULT_MODEL}"
)


@pytest.fixture
def no_env_model(monkeypatch):
    """$ASR_MODEL would replace the default model: these tests are about the default."""
    monkeypatch.delenv("ASR_MODEL", raising=False)


@needs_default
def test_default_model_loads_with_no_argument(no_env_model):
    model = asr.load_model()
    assert model.tokenizer.vocab[0] == "<blank>"
    want = asr.load_model(DEFAULT_MODEL).encoder.state_dict()
    got = model.encoder.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in got)  # default.pt's weights


@needs_default
def test_default_model_has_a_decoder_config_whose_lm_exists(no_env_model):
    model = asr.load_model()
    assert model.decoder_config == DEFAULT_MODEL.with_name("default.decoder.json")
    assert model.decoder_config.is_file()
    lm = read_decoder_config(model.decoder_config)["lm"]
    assert (model.decoder_config.parent / lm).is_file()  # absolute or beside the json


@needs_default
def test_cli_transcribes_with_the_default_model(no_env_model, capsys):
    assert main(["transcribe", str(KATHLEEN[0])]) == 0  # English speech
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].strip()  # one file: just its text, not empty


@needs_default
def test_default_beam_decoder_decodes(no_env_model):
    model = asr.load_model()
    log_probs, out_lens = model.posteriors([asr.load_audio(KATHLEEN[0])])
    texts = model.beam_decoder()(log_probs, out_lens)
    assert len(texts) == 1 and isinstance(texts[0], str)
    assert texts[0] == " ".join(texts[0].split())  # words, single-spaced
