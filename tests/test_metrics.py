import pytest

from asr.core.metrics import cer, error_counts, wer


def test_wer_hand_worked():
    assert wer("a b c", "a c") == pytest.approx(1 / 3)
    assert wer("a b c", "a x c d") == pytest.approx(2 / 3)
    assert wer(["one two", "three"], ["one two", "three"]) == 0


def test_cer_hand_worked():
    assert cer("abcd", "abd") == pytest.approx(1 / 4)


def test_scoring_normalises_both_sides():
    assert wer("Two, three!", "two THREE") == 0


def test_counts():
    counts = error_counts(["a b", "c"], ["a", "c d"])
    assert counts["word_errors"] == 2 and counts["words"] == 3


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        wer(["a"], ["a", "b"])
