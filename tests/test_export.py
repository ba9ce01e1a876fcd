import json

import pytest
import torch
from conftest import DATA, DIGITS, KATHLEEN

from asr.audio.io import load_audio
from asr.cli import main
from asr.inference.export import compare_models, export_torchscript, quantize_int8
from asr.inference.exported import load_exported
from asr.inference.transcribe import load_model
from asr.model.checkpoint import CheckpointError


@pytest.fixture
def model(tiny_checkpoint):
    return load_model(tiny_checkpoint)


@pytest.fixture
def entries():
    return [{"audio": str(DATA / n), "text": t} for n, t in DIGITS.items()] + [
        {"audio": str(KATHLEEN[0]), "text": KATHLEEN[1]}
    ]


def posteriors_of(model, paths):
    return model.posteriors([load_audio(p) for p in paths])


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_torchscript_gives_the_eager_transcripts(model, entries, tmp_path, quantize):
    path = tmp_path / "model.ts"
    export_torchscript(model, path, quantize=quantize)
    exported = load_exported(path)
    eager = quantize_int8(model) if quantize else model
    paths = [e["audio"] for e in entries]
    (ref, ref_lens), (got, got_lens) = (
        posteriors_of(eager, paths),
        posteriors_of(exported, paths),
    )
    assert torch.equal(ref_lens, got_lens)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    assert [exported.transcribe(p) for p in paths] == [
        eager.transcribe(p) for p in paths
    ]


def test_int8_stays_close_to_float(model, entries):
    int8 = quantize_int8(model)
    assert type(int8.encoder.rnn).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert type(model.encoder.rnn) is torch.nn.LSTM  # the original is untouched
    paths = [e["audio"] for e in entries]
    ref, _ = posteriors_of(model, paths)
    got, _ = posteriors_of(int8, paths)
    assert (got.exp() - ref.exp()).abs().max() < 0.05  # probabilities barely move


def test_int8_keeps_the_trained_models_transcripts(digits_checkpoint, entries):
    """On a trained model (no near-tied frames, unlike a random one) int8 gives WER
    within 0.5 points of float, as `asr export --check-manifest` checks."""
    model = load_model(digits_checkpoint)
    scores = compare_models(model, quantize_int8(model), entries)
    assert abs(scores["wer_delta"]) <= 0.005


def test_compare_models_worked_example(model, entries):
    scores = compare_models(model, model, entries)
    assert scores["identical"] == 1.0 and scores["wer_delta"] == 0.0


def test_export_cli_checks_against_a_manifest(
    tiny_checkpoint, entries, tmp_path, capsys
):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({**e, "duration": 1.0}) + "\n" for e in entries)
    )
    out = tmp_path / "int8.ts"
    code = main(["export", "--model", str(tiny_checkpoint), "--out", str(out),
                 "--quantize", "int8", "--check-manifest", str(manifest)])  # fmt: skip
    assert code == 0 and out.is_file()
    assert "identical transcripts" in capsys.readouterr().out


def test_load_exported_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.ts"
    bad.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not an exported asr model"):
        load_exported(bad)
