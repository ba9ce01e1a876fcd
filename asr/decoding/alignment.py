"""Word timestamps and confidences: CTC forced alignment of a transcript to the
posteriors it was decoded from (``torchaudio.functional.forced_align``, a Viterbi
search over the CTC topology), then word spans from the aligned characters; and
``speech_confidence``, how sure the model is of a whole utterance."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torchaudio.functional as F

from ..core.text import BLANK, CharTokenizer


class WordTiming(NamedTuple):
    word: str  # the word as decoded
    start: float  # seconds from the start of the audio to the word's first frame
    end: float  # seconds to the end of its last frame
    confidence: float  # mean posterior of the aligned labels over the word's frames
    min_confidence: float  # the least of those per-frame posteriors


def align_words(
    log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer, frame_s: float
) -> list[WordTiming]:
    """Time and score every word of ``text`` against one utterance's posteriors.

    Args:
        log_probs: (T, V) CTC log posteriors of one utterance (valid frames only).
        text: its transcript, words separated by spaces.
        tokenizer: the model's labels.
        frame_s: seconds per posterior frame (hop length x time strides / rate).

    Returns:
        One WordTiming per word; [] for an empty transcript. A word covers the
        frames from its first character to its last, blanks between included.

    Raises:
        ValueError: the transcript needs more frames than ``log_probs`` has.
    """
    words = text.split()
    if not words:
        return []
    labels, scores = _force_align(log_probs, " ".join(words), tokenizer)
    # forced alignment emits every target once, so the runs are the characters
    spans = [s for s in _label_spans(labels) if s[0] != tokenizer.ids[" "]]
    timings, i = [], 0
    for word in words:
        first, last = spans[i][1], spans[i + len(word) - 1][2]
        i += len(word)
        probs = scores[first:last].exp()
        timings.append(WordTiming(word, first * frame_s, last * frame_s,
                                  float(probs.mean()), float(probs.min())))  # fmt: skip
    return timings


def _force_align(
    log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer
) -> tuple[list[int], torch.Tensor]:
    """The Viterbi label and its log posterior at each frame. Word separators are
    aligned too when there are frames enough, else only the words' characters."""
    unknown = set(text) - set(tokenizer.ids)
    if unknown:
        raise ValueError(f"characters not in the model's vocabulary: {sorted(unknown)}")
    emissions = log_probs.detach().float().cpu().unsqueeze(0)  # (T, V) -> (1, T, V)
    for target_text in (text, text.replace(" ", "")):
        ids = [tokenizer.ids[c] for c in target_text]
        repeats = sum(a == b for a, b in zip(ids, ids[1:], strict=False))
        if len(ids) + repeats <= emissions.shape[1]:
            break
    else:
        raise ValueError(
            f"{len(text)} characters do not fit {emissions.shape[1]} frames"
        )
    targets = torch.tensor([ids], dtype=torch.int32)
    alignment, scores = F.forced_align(emissions, targets, blank=BLANK)
    return alignment[0].tolist(), scores[0]


def _label_spans(labels: list[int]) -> list[tuple[int, int, int]]:
    """(label, first frame, end frame) of every run of a non-blank label; two runs
    of the same label split by blanks stay two runs."""
    spans, previous = [], BLANK
    for t, label in enumerate(labels):
        if label != BLANK and label == previous:
            spans[-1] = (label, spans[-1][1], t + 1)
        elif label != BLANK:
            spans.append((label, t, t + 1))
        previous = label
    return spans


def speech_confidence(log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[float]:
    """How sure the model is of what it heard, per utterance: the mean posterior of
    the best label over the frames where that label is not blank (1.0 when every
    frame is blank). Noise and tones that the model spells out score low.

    Args:
        log_probs: (B, T, V) CTC log posteriors.
        out_lens: (B,) valid frames per utterance.
    """
    best, ids = log_probs.detach().float().cpu().max(dim=-1)  # (B, T)
    scores = []
    for b, length in enumerate(out_lens.tolist()):
        emitted = ids[b, :length] != BLANK
        frames = best[b, :length][emitted]
        scores.append(float(frames.exp().mean()) if emitted.any() else 1.0)
    return scores
