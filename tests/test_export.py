"""ONNX export and the torch-free runtime: posteriors within ATOL of torch's on
real speech, the same transcripts and word times, numpy features and resampling
that match torchaudio's, and a run that never imports torch."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torchaudio
from conftest import DATA, DIGITS, KATHLEEN, ROOT

from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import load_audio
from asr.audio.mfcc import NumpyFrontend
from asr.audio.resample import resample
from asr.cli import main
from asr.data.manifest import write_manifest
from asr.decoding.alignment import viterbi_align
from asr.inference.export import ATOL, compare_models, export_onnx
from asr.inference.exported import load_onnx
from asr.inference.transcribe import load_model
from asr.model.checkpoint import CheckpointError

FEATURE_ATOL = 1e-3  # numpy vs torchaudio features (CMVN-normalised, so unit scale)
PATHS = [DATA / n for n in DIGITS] + [KATHLEEN[0]]


@pytest.fixture(scope="module")
def digits_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    export_onnx(load_model(ROOT / "data" / "models" / "digits.pt"), path)
    return path


@pytest.mark.parametrize("deltas", [0, 2])
def test_numpy_features_match_torchaudio(deltas):
    config = FrontendConfig(deltas=deltas)
    waves = [load_audio(p) for p in PATHS] + [np.full(90, 0.01, np.float32)]
    lens = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lens.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    ref, ref_lens = Frontend(config)(batch, lens)
    got, got_lens = NumpyFrontend(config)(waves)
    assert got_lens.tolist() == ref_lens.tolist()
    np.testing.assert_allclose(got, ref.numpy(), atol=FEATURE_ATOL)


@pytest.mark.parametrize("rates", [(44100, 16000), (8000, 16000), (22050, 16000)])
def test_numpy_resampling_matches_torchaudio(rates):
    wave = np.random.default_rng(0).standard_normal(rates[0]).astype(np.float32)
    ref = torchaudio.functional.resample(torch.from_numpy(wave), *rates).numpy()
    np.testing.assert_allclose(resample(wave, *rates), ref, atol=1e-5)


def test_viterbi_alignment_matches_torchaudio():
    rng = np.random.default_rng(0)
    for _ in range(50):
        frames = int(rng.integers(8, 40))
        ids = rng.integers(1, 5, int(rng.integers(1, frames // 3 + 1))).tolist()
        logits = torch.from_numpy(rng.standard_normal((frames, 5)).astype(np.float32))
        emissions = torch.log_softmax(3 * logits, -1)
        targets = torch.tensor([ids], dtype=torch.int32)
        ref, _ = torchaudio.functional.forced_align(emissions[None], targets, blank=0)
        assert viterbi_align(emissions.numpy(), ids) == ref[0].tolist()


def test_onnx_posteriors_match_torch_on_speech(digits_onnx):
    torch_model, onnx_model = (
        load_model(ROOT / "data/models/digits.pt"),
        load_onnx(digits_onnx),
    )
    waves = [load_audio(p) for p in PATHS]
    ref, ref_lens = torch_model.posteriors(waves)
    got, got_lens = onnx_model.posteriors(waves)
    assert got_lens.tolist() == ref_lens.tolist()
    for b, n in enumerate(ref_lens.tolist()):
        assert np.abs(got[b, :n] - ref[b, :n].numpy()).max() < ATOL
    assert [onnx_model.transcribe(p) for p in PATHS] == [
        torch_model.transcribe(p) for p in PATHS
    ]  # the shipped LM beam search, from the .decoder.json written beside it
    words = onnx_model.transcribe_words(PATHS[0])
    ref_words = torch_model.transcribe_words(PATHS[0])
    assert [(w.word, w.start, w.end) for w in words] == [
        (w.word, w.start, w.end) for w in ref_words
    ]


def test_int8_keeps_the_trained_models_transcripts(tmp_path):
    """int8 recurrent weights on the digits model: a third of the float file or less,
    and WER within 0.5 points of torch's."""
    model = load_model(ROOT / "data" / "models" / "digits.pt")
    path = tmp_path / "int8.onnx"
    export_onnx(model, path, quantize="int8")
    export_onnx(model, tmp_path / "float.onnx")
    assert path.stat().st_size < (tmp_path / "float.onnx").stat().st_size / 3
    entries = [{"audio": str(DATA / n), "text": t} for n, t in DIGITS.items()]
    scores = compare_models(model, load_onnx(path), entries)
    assert abs(scores["wer_delta"]) <= 0.005


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchaudio"):
            raise ImportError(f"{name} is blocked: the ONNX path must not need it")
sys.meta_path.insert(0, Block())
"""


def test_onnx_path_never_imports_torch(digits_onnx, tmp_path):
    """load_model + transcribe (LM beam search, word times, grammar matching) and
    the CLI, with torch made unimportable."""
    script = (
        BLOCK_TORCH
        + f"""
import asr
model = asr.load_model({str(digits_onnx)!r})
print(model.transcribe({str(PATHS[0])!r}))
print(len(model.transcribe_words({str(PATHS[0])!r})))
from asr.cli import main
code = main(["transcribe", "--model", {str(digits_onnx)!r}, {str(PATHS[1])!r}])
assert code == 0 and "torch" not in sys.modules, sorted(sys.modules)
digits = "zero one two three four five six seven eight nine".split()
found = model.transcribe({str(PATHS[0])!r}, grammar=digits)  # grammar matching too
print(found.text, found.confidence > 0.5)
assert "torch" not in sys.modules, sorted(sys.modules)
"""
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert lines[0] == DIGITS[PATHS[0].name] and lines[1] == "1"
    assert lines[2] == DIGITS[PATHS[1].name]
    assert lines[3] == f"{DIGITS[PATHS[0].name]} True"


def _manifest(path):
    """A manifest of the test recordings at ``path`` (their text does not matter)."""
    write_manifest(
        path, [{"audio": str(p), "text": "x", "duration": 1.0} for p in PATHS]
    )
    return path


def test_export_cli_checks_against_a_manifest(tiny_checkpoint, tmp_path, capsys):
    manifest = _manifest(tmp_path / "m.jsonl")
    out = tmp_path / "int8.onnx"
    code = main(["export", "--model", str(tiny_checkpoint), "--out", str(out),
                 "--quantize", "int8", "--check-manifest", str(manifest)])  # fmt: skip
    assert code == 0 and out.is_file()
    assert "identical transcripts" in capsys.readouterr().out


def test_export_cli_fits_int8_rounding_on_calibration_audio(
    tiny_checkpoint, tmp_path, capsys
):
    """--calibration rounds int8 by GPTQ over that audio and says so in the
    metadata; without --quantize it is refused before anything is written."""
    manifest = _manifest(tmp_path / "train.jsonl")
    out = tmp_path / "int8.onnx"
    code = main(["export", "--model", str(tiny_checkpoint), "--out", str(out),
                 "--quantize", "int8", "--calibration", str(manifest)])  # fmt: skip
    assert code == 0
    meta = ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map
    assert json.loads(meta["asr"])["rounding"] == "gptq"
    model = load_onnx(out)
    assert isinstance(model.transcribe(PATHS[0], decoder="greedy"), str)
    refused = tmp_path / "refused.onnx"
    code = main(["export", "--model", str(tiny_checkpoint), "--out", str(refused),
                 "--calibration", str(manifest)])  # fmt: skip
    assert code == 2 and not refused.exists()
    assert "--quantize int8" in capsys.readouterr().err


def test_load_onnx_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        load_onnx(bad)
