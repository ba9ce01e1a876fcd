"""The acoustic model: convolutional subsampling, a stack of bidirectional recurrent
layers (LSTM, GRU or the plain Elman RNN) and a linear CTC head.

    feats (B, T, F) -> conv -> (B, T', C*F') -> BiRNN -> (B, T', 2H) -> linear
        -> log_probs (B, T', V)

Only the network lives here: no loss, optimizer, metric or decoder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass(frozen=True)
class ModelConfig:
    n_features: int = 40  # input features per frame (FrontendConfig.n_features)
    vocab_size: int = 29  # CTC labels, blank included (len(CharTokenizer()))
    conv_channels: int = 32  # channels of each subsampling convolution
    time_strides: tuple[int, ...] = (2, 1)  # one conv layer per entry; their product
    #                                         is the time subsampling factor
    rnn_type: str = "lstm"  # "lstm", "gru" or "rnn" (Elman:
    #                         h_t = f(W_hh h + W_hx x + b))
    rnn_nonlinearity: str = "tanh"  # f of the Elman RNN: "tanh" or "relu"
    hidden_size: int = 256  # units per direction in each recurrent layer
    num_layers: int = 3  # stacked bidirectional recurrent layers
    dropout: float = 0.1  # between recurrent layers and before the CTC head


def _conv_output_size(conv: nn.Conv2d, size, dim: int):
    """Output length of ``conv`` along ``dim`` for inputs of ``size`` (int or
    tensor)."""
    return (
        size
        + 2 * conv.padding[dim]
        - conv.dilation[dim] * (conv.kernel_size[dim] - 1)
        - 1
    ) // conv.stride[dim] + 1


class ConvSubsampling(nn.Module):
    """2-D convolutions over (time, feature) that shorten the sequence in time."""

    KERNEL = (3, 3)  # (time, feature)
    FEATURE_STRIDE = 2  # every layer halves the feature axis

    def __init__(self, n_features: int, channels: int, time_strides: tuple[int, ...]):
        super().__init__()
        blocks, in_channels = [], 1
        for stride in time_strides:
            conv = nn.Conv2d(
                in_channels,
                channels,
                self.KERNEL,
                stride=(stride, self.FEATURE_STRIDE),
                padding=(self.KERNEL[0] // 2, self.KERNEL[1] // 2),
            )
            blocks.append(nn.Sequential(conv, nn.BatchNorm2d(channels), nn.GELU()))
            in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        self.out_features = channels * self.output_size(n_features, dim=1)

    def output_size(self, size, dim: int):
        """Length along ``dim`` (0 time, 1 feature) after every conv; works on ints
        and on tensors of lengths."""
        for block in self.blocks:
            size = _conv_output_size(block[0], size, dim)
        return size

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor):
        x = x.unsqueeze(1)  # (B, T, F) -> (B, 1, T, F)
        for block in self.blocks:
            x = block(x)
            x_lens = _conv_output_size(block[0], x_lens, dim=0)
            # zero the frames past each utterance's end, so that padding never leaks
            # into valid frames: a batch gives the same output as one utterance alone
            mask = torch.arange(x.shape[2], device=x.device)[None, :] < x_lens[:, None]
            x = x * mask[:, None, :, None]
        x = x.permute(0, 2, 1, 3).flatten(2)  # (B, C, T', F') -> (B, T', C*F')
        return x, x_lens


_RNN_FUNCTIONS = {  # the kernels nn.LSTM / nn.GRU / nn.RNN call, by mode
    "LSTM": torch._VF.lstm,
    "GRU": torch._VF.gru,
    "RNN_TANH": torch._VF.rnn_tanh,
    "RNN_RELU": torch._VF.rnn_relu,
}


def reverse_within(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, T, F) with each row's first ``lens[b]`` frames in reverse order; padding
    frames stay where they are. Applying it twice gives ``x`` back."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    lens = lens.to(x.device)[:, None]
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (B, T)
    return x.gather(1, index[:, :, None].expand_as(x))


def run_padded(rnn: nn.RNNBase, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """A bidirectional ``rnn`` over padded (B, T, F) input without packing.

    Gives what ``rnn`` gives on the packed sequence (padding frames are zero), with
    the same weights, but each direction of each layer runs as one dense sequence:
    the forward direction reads the padding only after the valid frames, and the
    backward direction runs forward over each row reversed within its length. On CPU
    a training step of the English GRU is 1.4-1.6x faster than with the packed kernels,
    which step through shrinking batch slices (benchmarks/train_throughput.py).
    """
    kernel = _RNN_FUNCTIONS[rnn.mode]
    valid = (torch.arange(x.shape[1], device=x.device)[None, :] <
             lens.to(x.device)[:, None])[:, :, None]  # fmt: skip
    weights = rnn._flat_weights
    per_direction = len(weights) // (2 * rnn.num_layers)
    for layer in range(rnn.num_layers):
        outputs = []
        for direction in range(2):
            start = (2 * layer + direction) * per_direction
            w = weights[start : start + per_direction]
            inputs = x if direction == 0 else reverse_within(x, lens)
            h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
            hx = (h0, h0) if rnn.mode == "LSTM" else h0
            out = kernel(inputs, hx, w, rnn.bias, 1, 0.0, rnn.training, False, True)[0]
            outputs.append(out if direction == 0 else reverse_within(out, lens))
        x = torch.cat(outputs, dim=-1) * valid
        if layer < rnn.num_layers - 1 and rnn.dropout and rnn.training:
            x = nn.functional.dropout(x, rnn.dropout, training=True)
    return x


class Encoder(nn.Module):
    """Bidirectional RNN acoustic model with a CTC output layer."""

    unpacked_training = True  # with gradients, run the RNN unpacked (``run_padded``);
    #                           False: always packed (the benchmark's baseline)

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        if config.rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}")
        self.config = config
        self.subsampling = ConvSubsampling(
            config.n_features, config.conv_channels, config.time_strides
        )
        rnn_kwargs = {"nonlinearity": config.rnn_nonlinearity}
        self.rnn = RNN_TYPES[config.rnn_type](
            input_size=self.subsampling.out_features,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
            **(rnn_kwargs if config.rnn_type == "rnn" else {}),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, config.vocab_size)

    def output_lengths(self, feat_lens: torch.Tensor) -> torch.Tensor:
        """Output frames for inputs of ``feat_lens`` frames."""
        return self.subsampling.output_size(feat_lens, dim=0)

    def forward(
        self, feats: torch.Tensor, feat_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            feats: (B, T, F) features, zero-padded.
            feat_lens: (B,) valid frames per utterance.

        Returns:
            log_probs: (B, T', V) log-softmax over the vocabulary.
            out_lens: (B,) valid output frames per utterance.
        """
        x, out_lens = self.subsampling(feats, feat_lens)
        out_lens = out_lens.clamp(min=1, max=x.shape[1])
        if torch.is_grad_enabled() and self.unpacked_training:
            x = run_padded(self.rnn, x, out_lens)  # (B, T', 2H)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, out_lens.cpu(), batch_first=True, enforce_sorted=False
            )
            packed, _ = self.rnn(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(
                packed, batch_first=True, total_length=x.shape[1]
            )  # (B, T', 2H)
        logits = self.head(self.dropout(x))
        return logits.log_softmax(dim=-1), out_lens

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def can_widen(narrow: ModelConfig, wide: ModelConfig) -> bool:
    """Whether ``widen_state`` can lay a ``narrow`` model's weights into a ``wide``
    one: the same config but for as many or more hidden units, and possibly other
    time strides over as many conv layers (a stride changes the frame rate the
    layers above see, not the shape of any weight)."""
    other = {"hidden_size": wide.hidden_size, "time_strides": wide.time_strides}
    same_shape = dataclasses.replace(narrow, **other) == wide
    same_layers = len(narrow.time_strides) == len(wide.time_strides)
    return same_shape and same_layers and narrow.hidden_size <= wide.hidden_size


def widen_state(
    state: dict[str, torch.Tensor], narrow: ModelConfig, encoder: Encoder
) -> dict[str, torch.Tensor]:
    """A narrower model's weights laid into ``encoder``'s wider recurrent layers.

    Function-preserving widening (Net2Net, Chen et al. 2016, with zero fan-out): every
    old weight keeps its place, the new units keep ``encoder``'s fresh random input and
    recurrent weights, and every weight that reads a new unit (the next layer, the
    recurrent matrix, the CTC head) starts at zero. So the wider model computes
    exactly what the narrow one did, and gradients reach the new units through those
    zero weights.

    Args:
        state: the narrow model's state dict.
        narrow: its config; the same as ``encoder.config`` except a smaller hidden_size.
        encoder: the wider model (its own weights are the new units' start).

    Returns:
        a state dict for ``encoder``.
    """
    wide = encoder.config
    if not can_widen(narrow, wide):
        raise ValueError(f"cannot widen {narrow} into {wide}")
    old, new = narrow.hidden_size, wide.hidden_size
    out = {name: t.detach().clone() for name, t in encoder.state_dict().items()}
    for name, weight in state.items():
        target = out[name]
        if name == "head.weight":  # (V, 2H): columns read [forward H | backward H]
            target.view(-1, 2, new)[:, :, old:] = 0
            target.view(-1, 2, new)[:, :, :old] = weight.view(-1, 2, old)
        elif name.startswith("rnn.weight_hh"):  # (G*H, H): G gates of H rows
            gates = target.view(-1, new, new)
            gates[:, :old, old:] = 0
            gates[:, :old, :old] = weight.view(len(gates), old, old)
        elif name.startswith("rnn.weight_ih_l") and "_l0" not in name:
            gates = target.view(-1, new, 2, new)  # input: both directions below
            gates[:, :old, :, old:] = 0
            gates[:, :old, :, :old] = weight.view(len(gates), old, 2, old)
        elif name.startswith("rnn."):  # first layer's input weights, biases: new rows
            gates = target.view(-1, new, *target.shape[1:])
            gates[:, :old] = weight.view(len(gates), old, *weight.shape[1:])
        else:  # subsampling, head bias: the same shape
            target.copy_(weight)
    return out
