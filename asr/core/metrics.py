"""Error rates and calibration. jiwer does the alignment; both sides go through the
project's one text normaliser first, so "Two." and "two" count as the same word."""

from __future__ import annotations

import jiwer
import numpy as np

from .text import normalize_text


def _prepare(references: list[str], hypotheses: list[str]):
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    return refs, hyps


def error_counts(references: list[str], hypotheses: list[str]) -> dict[str, int]:
    """Word and character edit counts: wer = word_errors / words, likewise for cer."""
    refs, hyps = _prepare(references, hypotheses)
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {
        "word_errors": words.substitutions + words.deletions + words.insertions,
        "words": sum(len(r.split()) for r in refs),
        "char_errors": chars.substitutions + chars.deletions + chars.insertions,
        "chars": sum(len(r) for r in refs),
    }


def wer(references: list[str] | str, hypotheses: list[str] | str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    refs, hyps = _as_lists(references, hypotheses)
    counts = error_counts(refs, hyps)
    return counts["word_errors"] / max(counts["words"], 1)


def cer(references: list[str] | str, hypotheses: list[str] | str) -> float:
    """Character error rate, spaces included, over normalised text."""
    refs, hyps = _as_lists(references, hypotheses)
    counts = error_counts(refs, hyps)
    return counts["char_errors"] / max(counts["chars"], 1)


def _as_lists(references, hypotheses):
    if isinstance(references, str):
        references, hypotheses = [references], [hypotheses]
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in number")
    return list(references), list(hypotheses)


def calibration(confidence, right, bins: int = 10):
    """Reliability table and expected calibration error of confidences.

    Args:
        confidence: the confidence given to each answer, in [0, 1].
        right: 1 where that answer was right, else 0.
        bins: equal-width confidence bins; the first also holds 0.

    Returns:
        ([(low, high, answers, mean confidence, share right)] for each bin holding
        answers, ECE: the answers' share-weighted mean |confidence - share right|).
    """
    conf, right = np.asarray(confidence, float), np.asarray(right, float)
    if conf.shape != right.shape or not len(conf):
        raise ValueError("need as many right/wrong flags as confidences, at least one")
    edges, table, ece = np.linspace(0, 1, bins + 1), [], 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > low) & (conf <= high) if low > 0 else (conf <= high)
        if inside.any():
            c, a = conf[inside].mean(), right[inside].mean()
            table.append(
                (float(low), float(high), int(inside.sum()), float(c), float(a))
            )
            ece += inside.sum() / len(conf) * abs(c - a)
    return table, float(ece)


def reliability_lines(table) -> list[str]:
    """``calibration``'s table as text, a bin a line: "(0.9, 1.0]  1361  confidence
    0.984  right 0.974"."""
    return [
        f"  ({low:.1f}, {high:.1f}]  {n:4d}  confidence {conf:.3f}  right {share:.3f}"
        for low, high, n, conf, share in table
    ]
