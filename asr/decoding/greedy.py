"""Greedy (best path) CTC decoding: take the most likely label per frame, merge
repeats, drop blanks."""

from __future__ import annotations

from ..core.arrays import as_numpy
from ..core.text import BLANK, CharTokenizer


def ctc_collapse(ids: list[int], blank: int = BLANK) -> list[int]:
    """Merge runs of the same label, then remove blanks:
    [a, a, _, a, b] -> [a, a, b]."""
    out, previous = [], None
    for i in ids:
        if i != previous and i != blank:
            out.append(i)
        previous = i
    return out


def greedy_decode(log_probs, out_lens, tokenizer: CharTokenizer) -> list[str]:
    """Best-path decoding of a batch.

    Args:
        log_probs: (B, T, V) CTC log posteriors (a torch tensor or numpy array).
        out_lens: (B,) valid frames per utterance.
        tokenizer: maps label ids to characters.

    Returns:
        B transcripts, with surrounding and repeated spaces removed.
    """
    best = as_numpy(log_probs.argmax(-1))  # (B, T, V) -> (B, T), on its device
    texts = []
    lens = as_numpy(out_lens).tolist()
    for path, length in zip(best.tolist(), lens, strict=True):  # B each
        text = tokenizer.decode(ctc_collapse(path[:length]))
        texts.append(" ".join(text.split()))
    return texts
