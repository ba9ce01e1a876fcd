import csv
import json

import pytest
import torch

from asr.audio import Frontend, FrontendConfig, load_audio
from asr.checkpoint import load_checkpoint
from asr.model import Encoder, ModelConfig
from asr.text import BLANK, CharTokenizer
from asr.train import TrainConfig, build_parser, config_from_args, train
from asr.transcribe import load_model
from conftest import DATA, DIGITS, TINY


def write_digit_manifest(path, names=DIGITS):
    with path.open("w") as f:
        for name, text in names.items():
            wave = load_audio(DATA / name)
            f.write(json.dumps({"audio": str(DATA / name), "text": text,
                                "duration": len(wave) / 16000}) + "\n")  # fmt: skip
    return path


def test_overfit_four_real_utterances():
    """20 full-batch steps on four real recordings drive the CTC loss far down."""
    torch.manual_seed(0)
    tok = CharTokenizer()
    frontend = Frontend(FrontendConfig())
    model = Encoder(ModelConfig(hidden_size=64, num_layers=1, dropout=0.0))
    waves = [torch.from_numpy(load_audio(DATA / n)) for n in DIGITS]
    targets = [torch.tensor(tok.encode(t)) for t in DIGITS.values()]
    wave_lens = torch.tensor([len(w) for w in waves])
    feats, feat_lens = frontend(torch.nn.utils.rnn.pad_sequence(waves, True), wave_lens)
    target_lens = torch.tensor([len(t) for t in targets])
    targets = torch.nn.utils.rnn.pad_sequence(targets, True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    ctc = torch.nn.CTCLoss(blank=BLANK, reduction="mean")
    losses = []
    for _ in range(60):
        log_probs, out_lens = model(feats, feat_lens)
        loss = ctc(log_probs.transpose(0, 1), targets, out_lens, target_lens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert losses[-1] < 0.5


def test_our_loss_matches_functional_ctc_loss():
    log_probs = torch.randn(2, 12, 29).log_softmax(-1)
    targets, out_lens, target_lens = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([12, 9]), torch.tensor([3, 2])
    ours = torch.nn.CTCLoss(blank=BLANK, reduction="sum")(log_probs.transpose(0, 1), targets, out_lens, target_lens)
    reference = sum(
        torch.nn.functional.ctc_loss(log_probs[b, : out_lens[b]], targets[b, : target_lens[b]],
                                     out_lens[b : b + 1], target_lens[b : b + 1], reduction="sum")
        for b in range(2)
    )  # fmt: skip
    torch.testing.assert_close(ours, reference)


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    manifest = write_digit_manifest(tmp_path / "train.jsonl")
    values = dict(
        train_manifest=str(manifest), dev_manifest=str(manifest), out_dir=str(tmp_path / "run"),
        epochs=2, batch_size=2, warmup_steps=2, num_workers=0, model=TINY,
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_train_writes_checkpoints_metrics_and_plot(tmp_path):
    cfg = tiny_config(tmp_path)
    train(cfg)
    run = tmp_path / "run"
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    assert (run / "curves.png").stat().st_size > 1000
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "dev_loss", "dev_wer", "dev_cer"} <= rows[0].keys()
    last = load_checkpoint(run / "last.pt")
    assert last["step"] == 4 and last["epoch"] == 2 and "optimizer" in last
    assert "optimizer" not in load_checkpoint(run / "best.pt")
    assert isinstance(load_model(run / "best.pt").transcribe(DATA / "2_jackson_1.wav"), str)


def test_resume_continues_from_last_checkpoint(tmp_path):
    train(tiny_config(tmp_path, epochs=1))
    train(tiny_config(tmp_path, epochs=3, resume=True))
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 6


def test_unwritable_output_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="not writable"):
        train(tiny_config(tmp_path, out_dir=str(blocker / "run")))


def test_cli_flags_build_the_config():
    args = build_parser().parse_args(
        ["--train-manifest", "t.jsonl", "--rnn-type", "gru", "--hidden-size", "64",
         "--time-strides", "2", "2", "--deltas", "1", "--no-normalize"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert cfg.model.rnn_type == "gru" and cfg.model.hidden_size == 64
    assert cfg.model.time_strides == (2, 2)
    assert cfg.frontend.deltas == 1 and cfg.frontend.normalize is False
