import pytest

from asr.core.metrics import calibration, cer, error_counts, reliability_lines, wer


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


def test_calibration_hand_worked():
    # bin (0.2, 0.3]: 0.25 twice, one right -> |0.25 - 0.5|; bin (0.9, 1]: 0.95
    # four times, all right -> |0.95 - 1|; ECE = (2 * 0.25 + 4 * 0.05) / 6
    table, ece = calibration([0.25, 0.25, 0.95, 0.95, 0.95, 0.95], [1, 0, 1, 1, 1, 1])
    assert [(n, c, a) for _, _, n, c, a in table] == [
        (2, pytest.approx(0.25), 0.5),
        (4, pytest.approx(0.95), 1.0),
    ]
    assert ece == pytest.approx((2 * 0.25 + 4 * 0.05) / 6)
    assert calibration([0.0, 1.0], [0, 1])[1] == pytest.approx(0.0)  # edges binned
    with pytest.raises(ValueError):
        calibration([0.5], [1, 0])
    assert reliability_lines(table) == [
        "  (0.2, 0.3]     2  confidence 0.250  right 0.500",
        "  (0.9, 1.0]     4  confidence 0.950  right 1.000",
    ]
