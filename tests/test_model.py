import dataclasses

import pytest
import torch
from conftest import TINY

from asr.model.encoder import Encoder, ModelConfig, widen_state


@pytest.mark.parametrize(
    "rnn_type, nonlinearity",
    [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")],
)
def test_shapes_and_lengths(rnn_type, nonlinearity):
    cfg = dataclasses.replace(TINY, rnn_type=rnn_type, rnn_nonlinearity=nonlinearity)
    model = Encoder(cfg).eval()
    feats, lens = torch.randn(3, 101, cfg.n_features), torch.tensor([101, 57, 9])
    log_probs, out_lens = model(feats, lens)
    assert log_probs.shape == (3, 51, cfg.vocab_size)  # time stride 2: ceil(101 / 2)
    assert out_lens.tolist() == [51, 29, 5]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 51))


def test_elman_rnn_uses_requested_nonlinearity():
    model = Encoder(dataclasses.replace(TINY, rnn_type="rnn", rnn_nonlinearity="relu"))
    assert isinstance(model.rnn, torch.nn.RNN) and model.rnn.nonlinearity == "relu"
    assert model.rnn.bidirectional


@pytest.mark.parametrize("strides", [(1,), (2, 1), (2, 2), (3, 1)])
def test_output_lengths_match_the_convolutions(strides):
    model = Encoder(dataclasses.replace(TINY, time_strides=strides)).eval()
    for T in [1, 2, 7, 40, 99]:
        x, lens = model.subsampling(
            torch.randn(1, T, TINY.n_features), torch.tensor([T])
        )
        assert (
            x.shape[1] == lens.item() == model.output_lengths(torch.tensor([T])).item()
        )


def test_padding_does_not_change_the_output():
    model = Encoder(TINY).eval()
    x = torch.randn(1, 40, TINY.n_features)
    alone, _ = model(x, torch.tensor([40]))
    padded = torch.cat([x, torch.zeros(1, 20, TINY.n_features)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 60, TINY.n_features)])
    together, out_lens = model(batch, torch.tensor([40, 60]))
    n = out_lens[0]
    torch.testing.assert_close(together[0, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_unknown_rnn_type():
    with pytest.raises(ValueError):
        Encoder(dataclasses.replace(TINY, rnn_type="transformer"))


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_unpacked_training_path_equals_the_packed_kernels(rnn_type):
    """With gradients the encoder runs run_padded; its outputs and gradients equal
    those of the packed nn.RNN kernels (used without gradients) on a ragged batch."""
    torch.manual_seed(0)
    model = Encoder(ModelConfig(rnn_type=rnn_type, hidden_size=8, num_layers=2,
                                conv_channels=4, dropout=0.0))  # fmt: skip
    feats, lens = torch.randn(3, 40, 40), torch.tensor([40, 23, 9])
    grads = []
    for unpacked in (True, False):
        model.zero_grad()
        Encoder.unpacked_training = unpacked
        try:
            log_probs, out_lens = model(feats, lens)
        finally:
            Encoder.unpacked_training = True
        valid = torch.arange(log_probs.shape[1])[None, :] < out_lens[:, None]
        (log_probs * valid[..., None]).sum().backward()
        grads.append((log_probs.detach() * valid[..., None],
                      [p.grad.clone() for p in model.parameters()]))  # fmt: skip
    (a, grads_a), (b, grads_b) = grads
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(ga, gb, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_widening_keeps_the_function_and_trains_the_new_units(rnn_type):
    """A 2-layer model widened 8 -> 12 units computes what it did (both RNN paths);
    gradients reach the new units' zero outgoing weights."""
    torch.manual_seed(0)
    narrow = Encoder(ModelConfig(rnn_type=rnn_type, hidden_size=8, num_layers=2,
                                 conv_channels=4, dropout=0.0))  # fmt: skip
    wide = Encoder(dataclasses.replace(narrow.config, hidden_size=12))
    wide.load_state_dict(widen_state(narrow.state_dict(), narrow.config, wide))
    feats, lens = torch.randn(3, 40, 40), torch.tensor([40, 23, 9])
    narrow.eval(), wide.eval()  # batch norm with its running statistics
    with torch.no_grad():  # packed kernels
        torch.testing.assert_close(wide(feats, lens), narrow(feats, lens))
    log_probs, out_lens = wide(feats, lens)  # with gradients: run_padded
    torch.testing.assert_close(log_probs.detach(), narrow(feats, lens)[0].detach())
    log_probs[0, : out_lens[0], 5].sum().backward()
    new_columns = wide.head.weight.view(-1, 2, 12)[:, :, 8:]  # read the new units
    assert new_columns.eq(0).all()
    assert wide.head.weight.grad.view(-1, 2, 12)[:, :, 8:].abs().sum() > 0


def test_restriding_keeps_every_weight_and_changes_the_frame_rate():
    """The same conv layers at other time strides take the weights as they are
    (no weight's shape depends on a stride); the output has twice the frames."""
    torch.manual_seed(0)
    coarse = Encoder(dataclasses.replace(TINY, time_strides=(2, 2)))
    fine = Encoder(dataclasses.replace(TINY, time_strides=(2, 1)))
    fine.load_state_dict(widen_state(coarse.state_dict(), coarse.config, fine))
    assert all(torch.equal(v, fine.state_dict()[k])
               for k, v in coarse.state_dict().items())  # fmt: skip
    feats, lens = torch.randn(2, 40, 40), torch.tensor([40, 24])
    coarse.eval(), fine.eval()
    with torch.no_grad():
        assert coarse(feats, lens)[1].tolist() == [10, 6]
        assert fine(feats, lens)[1].tolist() == [20, 12]
    three = Encoder(dataclasses.replace(TINY, time_strides=(2, 1, 1)))
    with pytest.raises(ValueError, match="cannot widen"):  # another conv layer
        widen_state(coarse.state_dict(), coarse.config, three)


def test_widening_refuses_another_shape():
    small = Encoder(dataclasses.replace(TINY, hidden_size=8))
    for config in (TINY, dataclasses.replace(TINY, hidden_size=4, num_layers=2)):
        with pytest.raises(ValueError, match="cannot widen"):
            widen_state(Encoder(config).state_dict(), config, small)
