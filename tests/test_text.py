import pytest

from asr.core.text import BLANK, CharTokenizer, normalize_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello, World!", "hello world"),
        (
            "Author of the danger trail, Philip Steels, etc.",
            "author of the danger trail philip steels etc",
        ),
        ("I have 2 cats.", "i have two cats"),
        (
            "In 1984 there were 1,000 people",
            "in one thousand nine hundred and eighty four there were one thousand "
            "people",
        ),
        ("the 3rd time", "the third time"),
        ("pi is 3.14", "pi is three point one four"),
        ("100%", "one hundred percent"),
        ("Don't 'quote' me", "don't quote me"),
        ("Café naïve", "cafe naive"),
        ("There is , according to legend,", "there is according to legend"),
        ("rock\u2019n\u2019roll", "rock'n'roll"),
        ("   ", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalizer_is_idempotent():
    once = normalize_text("Mr. Smith paid $3.50 for 2 apples on the 1st of May!")
    assert normalize_text(once) == once


def test_vocab_layout():
    tok = CharTokenizer()
    assert tok.vocab[BLANK] == "<blank>"
    assert len(tok) == 29
    assert tok.encode("a b") == [tok.ids["a"], tok.ids[" "], tok.ids["b"]]


@pytest.mark.parametrize("text", ["hello world", "it's twenty one", "zero", ""])
def test_tokenizer_round_trip(text):
    tok = CharTokenizer()
    assert tok.decode(tok.encode(text)) == text


def test_tokenizer_normalises_before_encoding():
    tok = CharTokenizer()
    assert tok.decode(tok.encode("Two, THREE!")) == "two three"


def test_bad_vocab_is_refused():
    with pytest.raises(ValueError):
        CharTokenizer(["a", "<blank>"])
