"""Word timestamps and confidences: CTC forced alignment of a transcript to the
posteriors it was decoded from (a Viterbi search over the CTC topology, in numpy,
the same search and tie-breaking as ``torchaudio.functional.forced_align``, so that it
runs without torch), then word spans from the aligned characters; and
``speech_confidence``, how sure the model is of a whole utterance."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.arrays import as_numpy
from ..core.text import BLANK, CharTokenizer


class WordTiming(NamedTuple):
    word: str  # the word as decoded
    start: float  # seconds from the start of the audio to the word's first frame
    end: float  # seconds to the end of its last frame
    confidence: float  # mean posterior of the aligned labels over the word's frames
    min_confidence: float  # the least of those per-frame posteriors


def align_words(
    log_probs, text: str, tokenizer: CharTokenizer, frame_s: float
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
        probs = np.exp(scores[first:last])
        timings.append(WordTiming(word, first * frame_s, last * frame_s,
                                  float(probs.mean()), float(probs.min())))  # fmt: skip
    return timings


def _force_align(
    log_probs, text: str, tokenizer: CharTokenizer
) -> tuple[list[int], np.ndarray]:
    """The Viterbi label and its log posterior at each frame. Word separators are
    aligned too when there are frames enough, else only the words' characters."""
    unknown = set(text) - set(tokenizer.ids)
    if unknown:
        raise ValueError(f"characters not in the model's vocabulary: {sorted(unknown)}")
    emissions = as_numpy(log_probs).astype(np.float32, copy=False)[None]  # (1, T, V)
    for target_text in (text, text.replace(" ", "")):
        ids = [tokenizer.ids[c] for c in target_text]
        repeats = sum(a == b for a, b in zip(ids, ids[1:], strict=False))
        if len(ids) + repeats <= emissions.shape[1]:
            break
    else:
        raise ValueError(
            f"{len(text)} characters do not fit {emissions.shape[1]} frames"
        )
    path = viterbi_align(emissions[0], ids)
    return path, emissions[0][np.arange(len(path)), path]


def ctc_states(labels: list, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The states CTC moves through for N label sequences: (N, 2 * width + 1) label
    ids, each sequence spelled (blank, l1, blank, l2, ..., blank) and padded with
    blanks, and where a state may also be entered from two states back (a label
    unlike the label before it; a repeat needs the blank between). Shared by the
    alignment here and the forward scores of ``asr.decoding.match``."""
    states = np.full((len(labels), 2 * width + 1), BLANK, np.int64)
    for i, ids in enumerate(labels):
        states[i, 1 : 2 * len(ids) : 2] = ids
    skip = np.zeros(states.shape, dtype=bool)
    skip[:, 2:] = (states[:, 2:] != BLANK) & (states[:, 2:] != states[:, :-2])
    return states, skip


def viterbi_align(emissions: np.ndarray, ids: list[int]) -> list[int]:
    """The best CTC path (one label per frame) that spells ``ids``.

    The recursion and tie-breaking of torchaudio's ``forced_align`` (CPU): a state
    keeps its own score unless a predecessor is strictly better, and the path ends
    on the last label unless the closing blank is strictly better. Ported because
    no maintained numpy CTC aligner exists; the frames must fit the labels.

    Args:
        emissions: (T, V) log posteriors.
        ids: the label ids to align, no blanks.
    """
    states, skip = (rows[0] for rows in ctc_states([ids], len(ids)))
    frames, size = emissions.shape[0], len(states)
    alpha = np.full(size, -np.inf)
    alpha[:2] = emissions[0, states[:2]]
    back = np.zeros((frames, size), dtype=np.int8)
    for t in range(1, frames):
        stay, step = alpha, np.r_[-np.inf, alpha[:-1]]
        jump = np.where(skip, np.r_[-np.inf, -np.inf, alpha[:-2]], -np.inf)
        moves = np.where(step > stay, 1, 0)
        best = np.where(step > stay, step, stay)
        moves = np.where(jump > best, 2, moves)
        alpha = np.maximum(best, jump) + emissions[t, states]
        back[t] = moves
    state = size - 1 if size == 1 or alpha[-1] > alpha[-2] else size - 2
    path = [0] * frames
    for t in range(frames - 1, -1, -1):
        path[t] = int(states[state])
        state -= back[t, state]
    return path


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


def speech_confidence(log_probs, out_lens) -> list[float]:
    """How sure the model is of what it heard, per utterance: the mean posterior of
    the best label over the frames where that label is not blank (1.0 when every
    frame is blank). Noise and tones that the model spells out score low.

    Args:
        log_probs: (B, T, V) CTC log posteriors.
        out_lens: (B,) valid frames per utterance.
    """
    log_probs = as_numpy(log_probs)
    best, ids = log_probs.max(axis=-1), log_probs.argmax(axis=-1)  # (B, T)
    scores = []
    for b, length in enumerate(as_numpy(out_lens).tolist()):
        emitted = ids[b, :length] != BLANK
        frames = best[b, :length][emitted]
        scores.append(float(np.exp(frames).mean()) if emitted.any() else 1.0)
    return scores
