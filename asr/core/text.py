"""Text side of the model: one normaliser for training targets and for scoring, and
the character vocabulary that maps normalised text to CTC label ids (blank = 0)."""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words

BLANK = 0  # CTC blank id; the first vocabulary entry
BLANK_TOKEN = "<blank>"
CHARACTERS = " '" + "abcdefghijklmnopqrstuvwxyz"  # everything the normaliser can emit

_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_GROUPED = re.compile(r"\b(\d{1,3}(?:,\d{3})+)\b")  # 1,000,000
_NUMBER = re.compile(r"\d+")
_SYMBOLS = {
    "%": " percent ",
    "&": " and ",
    "+": " plus ",
    "@": " at ",
    "$": " dollars ",
}
_NOT_IN_VOCAB = re.compile(r"[^a-z' ]+")
MAX_NUMBER_DIGITS = 30  # longer digit strings are read digit by digit (num2words
#                         would spell 10^4000 in kilobytes, and Python refuses more)


def normalize_text(text: str) -> str:
    """Lower-case, spell out numbers, drop punctuation and squeeze spaces.

    The same function builds training targets and normalises references and
    hypotheses before WER is scored, so both sides always agree.

    >>> normalize_text("Dr. Smith's 2nd car cost $3.50!")
    "dr smith's second car cost dollars three point five zero"
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = _GROUPED.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _ORDINAL.sub(lambda m: " " + _spell(m.group(1), "ordinal"), text)
    text = _DECIMAL.sub(_spell_decimal, text)
    text = _NUMBER.sub(lambda m: " " + _spell(m.group(0)) + " ", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _NOT_IN_VOCAB.sub(" ", text.lower())
    # apostrophes only inside words ("don't", "smith's"), never as quotes
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())


def _spell(digits: str, to: str = "cardinal") -> str:
    """A number in words; a very long one digit by digit."""
    if len(digits) > MAX_NUMBER_DIGITS:
        return " ".join(num2words(int(d)) for d in digits)
    return num2words(int(digits), to=to)


def _spell_decimal(match: re.Match) -> str:
    whole = _spell(match.group(1))
    digits = " ".join(num2words(int(d)) for d in match.group(2))
    return f" {whole} point {digits} "


class CharTokenizer:
    """Characters <-> label ids. Id 0 is the CTC blank; text is normalised first."""

    def __init__(self, vocab: list[str] | None = None):
        self.vocab = list(vocab) if vocab is not None else [BLANK_TOKEN, *CHARACTERS]
        if self.vocab[BLANK] != BLANK_TOKEN:
            raise ValueError(f"vocab[{BLANK}] must be {BLANK_TOKEN!r}")
        self.ids = {token: i for i, token in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Normalise ``text`` and map each character to its id."""
        return [self.ids[c] for c in normalize_text(text) if c in self.ids]

    def decode(self, ids: list[int]) -> str:
        """Map ids back to text, skipping blanks (no CTC collapsing here)."""
        return "".join(self.vocab[i] for i in ids if i != BLANK)
