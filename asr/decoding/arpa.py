"""The ARPA back-off n-gram format: writing, reading with validation, and querying.

The decoder itself loads ARPA files with KenLM (inside flashlight-text); this module
is what the project uses to write them, to check them with readable errors before
KenLM sees them, to read the vocabulary for the lexicon, and to score text in tests.
Files ending in ``.gz`` are gzip-compressed (KenLM reads those directly).
"""

from __future__ import annotations

import gzip
import io
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from ..core.files import regular_file

BOS, EOS, UNK = "<s>", "</s>", "<unk>"  # sentence start, sentence end, unknown word
MAX_WORD_CHARS = 100  # longest LM word: flashlight's trie dies (signal 11) on 100,000
NO_PROB = -99.0  # log10 probability ARPA files give <s>, which is never predicted
_HEADER = re.compile(r"^ngram (\d+)=(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


class ArpaError(ValueError):
    """A malformed ARPA file; the message names the file and line."""


def open_text(path: str | Path, mode: str = "rt") -> TextIO:
    """Open a UTF-8 text file, gzip-compressed when its name ends in ``.gz``.

    Raises:
        InputFileError: reading from something that is not a regular file (a
            device would be read without end, a FIFO blocks the open).
    """
    path = Path(path)
    if "r" in mode:
        regular_file(path, "text file")
    if (
        path.suffix == ".gz" and "w" in mode
    ):  # no time stamp: the same model, the same bytes
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8")
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def write_arpa(path: str | Path, orders: list[list[tuple[str, float, float | None]]]):
    """Write an ARPA file.

    Args:
        path: output file; ``.gz`` compresses it.
        orders: ``orders[n - 1]`` lists the n-grams of order n as
            (space-joined words, log10 probability, log10 back-off weight or None).
    """
    with open_text(path, "wt") as f:
        f.write("\\data\\\n")
        for n, entries in enumerate(orders, 1):
            f.write(f"ngram {n}={len(entries)}\n")
        for n, entries in enumerate(orders, 1):
            f.write(f"\n\\{n}-grams:\n")
            for words, logprob, backoff in entries:
                tail = "" if backoff is None else f"\t{backoff:.5f}"
                f.write(f"{logprob:.5f}\t{words}{tail}\n")
        f.write("\n\\end\\\n")


class ArpaModel:
    """A back-off n-gram model held in dicts: fine for tests and small models.

    Attributes:
        order: highest n-gram order.
        probs: n-gram tuple -> log10 probability.
        backoffs: n-gram tuple -> log10 back-off weight (0 when absent).
    """

    def __init__(self, probs: dict[tuple[str, ...], float], backoffs: dict, order: int):
        self.probs, self.backoffs, self.order = probs, backoffs, order

    @property
    def vocab(self) -> list[str]:
        return [ngram[0] for ngram in self.probs if len(ngram) == 1]

    def log10_prob(self, word: str, context: Iterable[str] = ()) -> float:
        """log10 P(word | context) with back-off; unknown words score as <unk>."""
        context = tuple(context)[-(self.order - 1) :] if self.order > 1 else ()
        if (word,) not in self.probs:
            word = UNK
        penalty = 0.0
        while context:
            if (*context, word) in self.probs:
                return penalty + self.probs[(*context, word)]
            penalty += self.backoffs.get(context, 0.0)
            context = context[1:]
        return penalty + self.probs.get((word,), NO_PROB)


def read_arpa(path: str | Path, max_order: int | None = None) -> ArpaModel:
    """Read and validate an ARPA file.

    Args:
        path: the file (``.gz`` is decompressed).
        max_order: stop after this order (e.g. 1 to read only the vocabulary).

    Raises:
        ArpaError: missing header or sections, counts that disagree with the header,
            bad numbers, wrong word counts, or an n-gram whose context is missing.
    """
    try:
        with open_text(path) as f:
            return _parse(_numbered(f), str(path), max_order)
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise ArpaError(f"{path}: cannot read ({error})") from None


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, 1):
        yield number, line.strip()


def _parse(
    lines: Iterator[tuple[int, str]], name: str, max_order: int | None
) -> ArpaModel:
    counts = _read_header(lines, name)
    probs, backoffs = {}, {}
    last = len(counts) if max_order is None else min(max_order, len(counts))
    for n in range(1, last + 1):
        seen, ended = _read_section(lines, name, n, n == len(counts), probs, backoffs)
        if seen != counts[n - 1]:
            raise ArpaError(
                f"{name}: header says {counts[n - 1]} {n}-grams, found {seen}"
            )
    if last == len(counts) and not ended and not any(x == "\\end\\" for _, x in lines):
        raise ArpaError(f"{name}: no \\end\\ line")
    return ArpaModel(probs, backoffs, len(counts))


def _read_header(lines: Iterator[tuple[int, str]], name: str) -> list[int]:
    for number, line in lines:
        if line == "\\data\\":
            break
        if line:  # not an ARPA file: say so without showing what it holds
            raise ArpaError(f"{name}:{number}: not an ARPA file (no \\data\\ header)")
    else:
        raise ArpaError(f"{name}: not an ARPA file (no \\data\\ header)")
    counts = []
    for number, line in lines:
        if not line:
            break
        match = _HEADER.match(line)
        if not match or int(match.group(1)) != len(counts) + 1:
            raise ArpaError(f"{name}:{number}: bad header line {line[:40]!r}")
        counts.append(int(match.group(2)))
    if not counts:
        raise ArpaError(f"{name}: the header lists no n-gram counts")
    return counts


def _read_section(
    lines, name: str, n: int, highest: bool, probs: dict, backoffs: dict
) -> tuple[int, bool]:
    """Read the n-gram section into ``probs``/``backoffs``.

    Returns:
        (n-grams read, whether the section ended at the \\end\\ line).
    """
    for number, line in lines:
        if line:
            if _SECTION.match(line) and int(_SECTION.match(line).group(1)) == n:
                break
            raise ArpaError(
                f"{name}:{number}: expected \\{n}-grams:, found {line[:40]!r}"
            )
    else:
        raise ArpaError(f"{name}: missing \\{n}-grams: section")
    seen = 0
    for number, line in lines:
        if not line or line == "\\end\\":
            return seen, bool(line)
        fields = line.split()
        if len(fields) not in (n + 1, n + 2) or (highest and len(fields) == n + 2):
            raise ArpaError(
                f"{name}:{number}: a {n}-gram line needs {n} words: {line[:60]!r}"
            )
        try:
            values = [float(fields[0])] + (
                [float(fields[-1])] if len(fields) == n + 2 else []
            )
        except ValueError:
            raise ArpaError(f"{name}:{number}: bad number in {line[:60]!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise ArpaError(f"{name}:{number}: non-finite number in {line[:60]!r}")
        ngram = tuple(fields[1 : n + 1])
        if n > 1 and ngram[:-1] not in probs:
            raise ArpaError(
                f"{name}:{number}: context {' '.join(ngram[:-1])!r} is missing"
            )
        probs[ngram] = values[0]
        if len(values) == 2:
            backoffs[ngram] = values[1]
        seen += 1
    return seen, False
