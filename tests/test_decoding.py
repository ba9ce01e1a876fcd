import torch

from asr.core.text import CharTokenizer
from asr.decoding.greedy import ctc_collapse, greedy_decode

TOK = CharTokenizer()
A, B, SPACE = TOK.ids["a"], TOK.ids["b"], TOK.ids[" "]


def one_hot_log_probs(paths: list[list[int]]) -> torch.Tensor:
    T = max(len(p) for p in paths)
    x = torch.full((len(paths), T, len(TOK)), -10.0)
    for b, path in enumerate(paths):
        for t, i in enumerate(path):
            x[b, t, i] = 0.0
    return x.log_softmax(-1)


def test_ctc_collapse_hand_worked():
    assert ctc_collapse([A, A, 0, A, B]) == [A, A, B]
    assert ctc_collapse([0, 0, 0]) == []
    assert ctc_collapse([A, B, B, 0, B, 0]) == [A, B, B]
    assert ctc_collapse([]) == []


def test_greedy_decode_batch_with_lengths():
    paths = [[A, A, 0, A, B], [B, 0, SPACE, A, A]]
    lens = torch.tensor([5, 3])  # the second utterance ends after "b _ space"
    assert greedy_decode(one_hot_log_probs(paths), lens, TOK) == ["aab", "b"]


def test_greedy_decode_squeezes_spaces():
    paths = [[SPACE, A, SPACE, 0, SPACE, B, SPACE]]
    assert greedy_decode(one_hot_log_probs(paths), torch.tensor([7]), TOK) == ["a b"]
