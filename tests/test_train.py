import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, DIGITS, TINY

import asr.model.checkpoint
import asr.training.progress
import asr.training.train
from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import load_audio
from asr.core.text import BLANK, CharTokenizer
from asr.inference.transcribe import load_model
from asr.model.checkpoint import load_checkpoint
from asr.model.encoder import Encoder, ModelConfig
from asr.training.augment import AugmentConfig
from asr.training.checkpoint import save_checkpoint
from asr.training.train import (
    DataError,
    TrainConfig,
    Trainer,
    build_parser,
    config_from_args,
    train,
)


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
    targets, out_lens, target_lens = (
        torch.tensor([[5, 6, 7], [8, 9, 0]]),
        torch.tensor([12, 9]),
        torch.tensor([3, 2]),
    )
    ours = torch.nn.CTCLoss(blank=BLANK, reduction="sum")(
        log_probs.transpose(0, 1), targets, out_lens, target_lens
    )
    reference = sum(
        torch.nn.functional.ctc_loss(
            log_probs[b, : out_lens[b]], targets[b, : target_lens[b]],
            out_lens[b : b + 1], target_lens[b : b + 1], reduction="sum",
        )
        for b in range(2)
    )  # fmt: skip
    torch.testing.assert_close(ours, reference)


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    manifest = write_digit_manifest(tmp_path / "train.jsonl")
    values = dict(
        train_manifest=str(manifest), dev_manifest=str(manifest),
        out_dir=str(tmp_path / "run"),
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
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "dev_loss", "dev_wer", "dev_cer"} <= rows[0].keys()
    last = load_checkpoint(run / "last.pt")
    assert last["step"] == 4 and last["epoch"] == 2 and "optimizer" in last
    assert "optimizer" not in load_checkpoint(run / "best.pt")
    assert isinstance(
        load_model(run / "best.pt").transcribe(DATA / "2_jackson_1.wav"), str
    )


def test_resume_continues_from_last_checkpoint(tmp_path):
    train(tiny_config(tmp_path, epochs=1))
    train(tiny_config(tmp_path, epochs=3, resume=True))
    rows = list(
        csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines())
    )
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


def read_rows(run):
    return list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))


def test_non_finite_loss_batch_is_skipped_and_counted(tmp_path, monkeypatch):
    original, calls = Trainer._loss, []

    def sometimes_nan(self, batch):
        calls.append(1)
        loss = original(self, batch)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(Trainer, "_loss", sometimes_nan)
    train(tiny_config(tmp_path, epochs=2, batch_size=1))
    rows = read_rows(tmp_path / "run")
    assert [int(r["skipped_nonfinite"]) for r in rows] == [1, 0]
    assert [int(r["step"]) for r in rows] == [3, 7]  # 4 batches an epoch, one skipped
    weights = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    assert all(
        torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()
    )


def test_entries_that_fail_to_load_are_counted_and_abort_past_the_threshold(tmp_path):
    manifest = write_digit_manifest(tmp_path / "mixed.jsonl")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav file")
    with manifest.open("a") as f:
        f.write(
            json.dumps({"audio": "broken.wav", "text": "one", "duration": 0.5}) + "\n"
        )
        f.write(
            json.dumps({"audio": "missing.wav", "text": "two", "duration": 0.6}) + "\n"
        )
    cfg = tiny_config(tmp_path, train_manifest=str(manifest), epochs=1, batch_size=1)
    train(dataclasses.replace(cfg, max_failed_fraction=0.5))
    row = read_rows(tmp_path / "run")[0]
    assert int(row["failed_entries"]) == 2 and int(row["step"]) == 4
    with pytest.raises(DataError, match="2 of 6 training entries failed to load"):
        train(dataclasses.replace(cfg, out_dir=str(tmp_path / "strict"),
                                  max_failed_fraction=0.2))  # fmt: skip


NO_BATCHNORM = ModelConfig(conv_channels=1, time_strides=(), hidden_size=16,
                           num_layers=1, dropout=0.0)  # fmt: skip


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    """2 batches of 2 with --accum-steps 2 take the same optimizer step as 1 batch of
    4. The four recordings are padded with silence to one length first, and the model
    has no BatchNorm or dropout, so nothing but the batching differs."""
    length = max(len(load_audio(DATA / name)) for name in DIGITS)
    with (tmp_path / "same-length.jsonl").open("w") as f:
        for name, text in DIGITS.items():
            wave = np.zeros(length, dtype=np.float32)
            clip = load_audio(DATA / name)
            wave[: len(clip)] = clip
            sf.write(tmp_path / name, wave, 16000)
            entry = {"audio": name, "text": text, "duration": length / 16000}
            f.write(json.dumps(entry) + "\n")
    big = tiny_config(tmp_path, out_dir=str(tmp_path / "big"), epochs=1, batch_size=4,
                      model=NO_BATCHNORM, dev_manifest="",
                      train_manifest=str(tmp_path / "same-length.jsonl"))  # fmt: skip
    train(big)
    train(
        dataclasses.replace(
            big, out_dir=str(tmp_path / "acc"), batch_size=2, accum_steps=2
        )
    )
    one, two = (
        load_checkpoint(Path(d) / "last.pt") for d in (big.out_dir, tmp_path / "acc")
    )
    assert one["step"] == two["step"] == 1  # one optimizer step per epoch
    assert [
        float(r["train_loss"]) for r in read_rows(Path(big.out_dir))
    ] == pytest.approx(
        [float(r["train_loss"]) for r in read_rows(tmp_path / "acc")], rel=1e-3
    )
    # after one step AdamW's first moment is 0.1 * the gradient: the gradients are
    # equal (not the weights: they move by ~lr * sign(grad), which float noise flips
    # where the gradient is ~0)
    for index, state in one["optimizer"]["state"].items():
        expected = state["exp_avg"]
        got = two["optimizer"]["state"][index]["exp_avg"]
        torch.testing.assert_close(got, expected, rtol=1e-3,
                                   atol=1e-4 * expected.abs().max().item())  # fmt: skip


def test_bf16_autocast_runs_on_cpu_and_fp16_needs_cuda(tmp_path):
    train(tiny_config(tmp_path, epochs=1, precision="bf16", dev_manifest=""))
    row = read_rows(tmp_path / "run")[0]
    assert int(row["step"]) == 2 and 0 < float(row["train_loss"]) < 1e4
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        train(tiny_config(tmp_path, precision="fp16"))


def test_metrics_report_throughput_and_data_wait(tmp_path):
    train(tiny_config(tmp_path, epochs=1, dev_manifest=""))
    row = read_rows(tmp_path / "run")[0]
    assert float(row["audio_sec_per_sec"]) > 0
    assert 0 <= float(row["data_wait_frac"]) < 1


def test_keep_last_snapshots_and_their_average(tmp_path):
    train(tiny_config(tmp_path, epochs=3, keep_last=2, average_last=2, dev_manifest=""))
    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("epoch-*.pt")) == [
        "epoch-2.pt",
        "epoch-3.pt",
    ]
    two, three = (load_checkpoint(run / f"epoch-{n}.pt")["model"] for n in (2, 3))
    averaged = load_checkpoint(run / "averaged.pt")
    assert averaged["averaged_from"] == ["epoch-2.pt", "epoch-3.pt"]
    mean = (two["head.weight"] + three["head.weight"]) / 2
    torch.testing.assert_close(averaged["model"]["head.weight"], mean)


AUGMENTED = AugmentConfig(speed_factors=(0.9, 1.0, 1.1), noise_prob=0.5,
                          telephone_prob=0.3, freq_masks=1, time_masks=1)  # fmt: skip


def test_mid_epoch_resume_gives_the_same_weights_as_an_uninterrupted_run(
    tmp_path, monkeypatch
):
    """Dropout, SpecAugment and waveform augmentation all draw random numbers: the
    resumed run replays them exactly from the random states saved in last.pt."""
    model = dataclasses.replace(TINY, num_layers=2, dropout=0.2)
    cfg = tiny_config(tmp_path, epochs=2, batch_size=1, save_every_steps=1, model=model,
                      augment=AUGMENTED, dev_manifest="")  # fmt: skip
    train(cfg)
    reference = load_checkpoint(tmp_path / "run" / "last.pt")

    saves = []

    def crash_after_the_third_save(path, state):
        save_checkpoint(path, state)
        saves.append(path)
        if len(saves) == 3:
            raise KeyboardInterrupt  # as if killed right after step 3 of epoch 1

    interrupted = dataclasses.replace(cfg, out_dir=str(tmp_path / "interrupted"))
    monkeypatch.setattr(
        asr.training.progress, "save_checkpoint", crash_after_the_third_save
    )
    with pytest.raises(KeyboardInterrupt):
        train(interrupted)
    monkeypatch.undo()
    saved = load_checkpoint(tmp_path / "interrupted" / "last.pt")
    assert (saved["epoch"], saved["batch"], saved["step"]) == (0, 3, 3)
    train(dataclasses.replace(interrupted, resume=True))
    resumed = load_checkpoint(tmp_path / "interrupted" / "last.pt")
    assert resumed["step"] == reference["step"] == 8
    for name, tensor in reference["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    assert [r["train_loss"] for r in read_rows(tmp_path / "interrupted")] == [
        r["train_loss"] for r in read_rows(tmp_path / "run")
    ]


def test_augmentation_flags_build_the_nested_config():
    args = build_parser().parse_args(
        ["--train-manifest", "t.jsonl", "--speed-factors", "0.9", "1.0", "1.1",
         "--noise-snr-db", "0", "15", "--time-masks", "2", "--precision", "bf16"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert cfg.augment.speed_factors == (0.9, 1.0, 1.1)
    assert cfg.augment.noise_snr_db == (0.0, 15.0) and cfg.augment.time_masks == 2
    assert cfg.precision == "bf16" and cfg.augment == AugmentConfig(
        speed_factors=(0.9, 1.0, 1.1), noise_snr_db=(0.0, 15.0), time_masks=2
    )


def test_init_from_starts_with_a_checkpoints_weights(tmp_path):
    first = tiny_config(tmp_path, epochs=1, dev_manifest="")
    train(first)
    source = Path(first.out_dir) / "best.pt"
    cfg = tiny_config(tmp_path, out_dir=str(tmp_path / "second"), init_from=str(source))
    fresh = Trainer(
        cfg, *asr.training.train.distributed.init_distributed("cpu")
    )  # not trained
    weights = load_checkpoint(source)["model"]
    assert all(
        torch.equal(v, fresh.encoder.state_dict()[k]) for k, v in weights.items()
    )
    other = dataclasses.replace(cfg, model=dataclasses.replace(TINY, hidden_size=8))
    with pytest.raises(asr.model.checkpoint.CheckpointError, match="same model"):
        Trainer(other, *asr.training.train.distributed.init_distributed("cpu"))
    wider = dataclasses.replace(cfg, model=dataclasses.replace(TINY, hidden_size=24))
    widened = Trainer(
        wider, *asr.training.train.distributed.init_distributed("cpu")
    ).encoder
    head = widened.state_dict()["head.weight"].view(-1, 2, 24)  # old units first
    torch.testing.assert_close(head[:, :, :16], weights["head.weight"].view(-1, 2, 16))


def test_dev_every_steps_scores_within_epochs_and_keeps_the_best(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, dev_every_steps=1)
    train(cfg)
    rows = list(
        csv.DictReader((Path(cfg.out_dir) / "dev_curve.csv").read_text().splitlines())
    )
    assert [int(r["step"]) for r in rows] == [1, 2]  # 4 utterances, batches of 2
    assert 0 < float(rows[0]["epoch"]) < float(rows[1]["epoch"]) <= 1
    best = min(float(r["dev_wer"]) for r in rows)
    kept = load_checkpoint(Path(cfg.out_dir) / "best.pt")
    assert kept["best_wer"] <= best  # the epoch-end score may improve on it further
    assert (Path(cfg.out_dir) / "curves.png").stat().st_size > 1000


def plain(value) -> bool:
    """Only tensors and plain data: nothing a module path could break."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return isinstance(value, (torch.Tensor, str, int, float, bool, type(None)))


def test_checkpoints_hold_no_module_paths_and_resume_from_the_command_line(tmp_path):
    """last.pt and best.pt load with ``weights_only=True`` and no allow-listed
    globals, so moving the package's modules cannot break them; ``asr train
    --resume`` continues from a last.pt an earlier run wrote."""
    from asr.cli import main

    train(tiny_config(tmp_path, epochs=1))
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt"):
        state = torch.load(run / name, map_location="cpu", weights_only=True)
        assert plain(state), name
    flags = [
        "train", "--train-manifest", str(tmp_path / "train.jsonl"),
        "--dev-manifest", str(tmp_path / "train.jsonl"), "--out-dir", str(run),
        "--epochs", "2", "--batch-size", "2", "--warmup-steps", "2",
        "--num-workers", "0", "--resume", "--conv-channels", str(TINY.conv_channels),
        "--hidden-size", str(TINY.hidden_size), "--num-layers", str(TINY.num_layers),
        "--dropout", str(TINY.dropout),
    ]  # fmt: skip
    assert main(flags) == 0
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert load_checkpoint(run / "last.pt")["step"] == 4
