"""Word n-gram language models for beam search: text -> counts -> interpolated
modified Kneser-Ney probabilities -> a pruned ARPA file, plus the lexicon that
spells every LM word in the acoustic model's characters. ``asr lm build`` runs it.

Written here because KenLM's estimator (lmplz) has no wheel on PyPI and NLTK's
``nltk.lm`` is far too slow for millions of words; the counting is vectorised with
numpy. The estimator follows Chen & Goodman (1998) as KenLM's lmplz does: the
highest order uses raw counts, lower orders use continuation counts (except n-grams
that start with <s>), three discounts per order, and the unigrams interpolate with
a uniform distribution over the vocabulary.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.files import MAX_CORPUS_CHARS
from ..core.text import normalize_text
from .arpa import (
    BOS,
    EOS,
    MAX_WORD_CHARS,
    NO_PROB,
    UNK,
    ArpaError,
    ArpaModel,
    open_text,
    read_arpa,
    write_arpa,
)

SPECIAL = (UNK, BOS, EOS)  # word ids 0, 1, 2; real words follow
FALLBACK_DISCOUNTS = (
    0.5,
    1.0,
    1.5,
)  # D1, D2, D3+ when a corpus is too small to estimate


@dataclass(frozen=True)
class LMConfig:
    order: int = 3  # n-gram order
    max_vocab: int = (
        100_000  # keep this many most frequent words; the rest become <unk>
    )
    min_counts: tuple[int, ...] = (1, 1, 2)  # per order: rarer n-grams are pruned
    # (min_counts[0] is the least count for a word to enter the vocabulary)


def read_sentences(paths: list[Path], exclude: set[str] = frozenset()) -> list[str]:
    """Normalised sentences, one per non-empty line of each (optionally .gz) file,
    leaving out those whose normalised text is in ``exclude``."""
    sentences = []
    for path in paths:
        for line in _lines(path):
            text = normalize_text(line)
            if text and text not in exclude:
                sentences.append(text)
    return sentences


def _lines(path: Path):
    """The lines of a regular (optionally .gz) text file, refused past
    MAX_CORPUS_CHARS: the text is held in memory, and a small .gz can expand to
    any size."""
    read = 0
    try:
        with open_text(path) as f:
            for line in f:
                read += len(line)
                if read > MAX_CORPUS_CHARS:
                    raise ValueError(
                        f"{path}: more than {MAX_CORPUS_CHARS:,} characters of text"
                    )
                yield line
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
        raise ValueError(f"{path}: not UTF-8 text ({error})") from None


def read_texts(path: Path) -> list[str]:
    """Normalised non-empty sentences of a file: the ``text`` of each line of a
    ``.jsonl`` manifest, or each line of a (optionally .gz) text file."""
    texts = []
    for line in _lines(path):
        if path.suffix == ".jsonl" and line.strip():
            line = json.loads(line)["text"]
        if text := normalize_text(line):
            texts.append(text)
    return texts


def read_exclusions(paths: list[Path]) -> set[str]:
    """Normalised sentences to keep out of the LM (see ``read_texts``)."""
    return {text for path in paths for text in read_texts(path)}


@dataclass(frozen=True)
class TextScore:
    sentences: int
    words: int
    oov: int  # words outside the LM's vocabulary (scored as <unk>)
    log10_prob: float  # of every word and each sentence end

    @property
    def perplexity(self) -> float:
        return 10 ** (-self.log10_prob / max(1, self.words + self.sentences))


def score_texts(model: ArpaModel, sentences: list[str]) -> TextScore:
    """How well an LM predicts sentences: out-of-vocabulary words and perplexity
    over every word and sentence end, unknown words scored as <unk> (as KenLM's
    ``query`` counts them)."""
    vocab = set(model.vocab)
    words = oov = 0
    total = 0.0
    for sentence in sentences:
        context = [BOS]
        for word in [*sentence.split(), EOS]:
            total += model.log10_prob(word, context)
            context.append(word)
        words += len(context) - 2
        oov += sum(word not in vocab for word in context[1:-1])
    return TextScore(len(sentences), words, oov, total)


def build_vocab(sentences: list[str], config: LMConfig) -> list[str]:
    """<unk>, <s>, </s>, then the most frequent words (ties alphabetical). Words
    over MAX_WORD_CHARS are left out (they count as <unk>): no LM written here
    holds a word the decoder refuses to load."""
    counts = Counter(
        word for s in sentences for word in s.split() if len(word) <= MAX_WORD_CHARS
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [w for w, c in ranked[: config.max_vocab] if c >= config.min_counts[0]]
    return [*SPECIAL, *words]


def kn_discounts(counts_of_counts: list[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from t1..t4, the number of n-grams
    seen exactly 1..4 times (Chen & Goodman 1998, eq. 26); FALLBACK_DISCOUNTS when
    a count is zero or a discount falls outside (0, k)."""
    t1, t2, t3, t4 = counts_of_counts
    if min(t1, t2, t3, t4) == 0:
        return FALLBACK_DISCOUNTS
    y = t1 / (t1 + 2 * t2)
    discounts = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    if not all(0 < d < k for k, d in enumerate(discounts, 1)):
        return FALLBACK_DISCOUNTS
    return discounts


class NgramCounts:
    """Every n-gram of orders 1..N as sorted int64 codes (word ids packed ``bits``
    apart, oldest word highest) with raw and Kneser-Ney adjusted counts."""

    def __init__(self, sentences: list[str], vocab: list[str], order: int):
        self.order, self.vocab = order, vocab
        self.bits = max(1, math.ceil(math.log2(len(vocab))))
        if self.bits * order > 63:
            raise ValueError(f"{len(vocab)} words do not fit a {order}-gram code")
        ids = {w: i for i, w in enumerate(vocab)}
        seq, sent = _flatten(sentences, ids)
        unigram_counts = np.bincount(seq, minlength=len(vocab))
        self.codes, self.raw = [np.arange(len(vocab), dtype=np.int64)], [unigram_counts]
        for n in range(2, order + 1):
            valid = np.nonzero(sent[: len(seq) - n + 1] == sent[n - 1 :])[0]
            code = np.zeros(len(valid), dtype=np.int64)
            for k in range(n):  # oldest word in the highest bits
                code = (code << self.bits) | seq[valid + k]
            unique, counts = np.unique(code, return_counts=True)
            self.codes.append(unique)
            self.raw.append(counts)
        self.adjusted = [self._adjusted(n) for n in range(1, order + 1)]

    def _adjusted(self, n: int) -> np.ndarray:
        """Raw counts at the top order and for n-grams starting with <s>; otherwise
        the number of distinct words seen before the n-gram."""
        raw = self.raw[n - 1]
        if n == self.order:
            return raw
        suffix, left = np.unique(self.codes[n] & self.mask(n), return_counts=True)
        adjusted = np.zeros_like(raw)
        adjusted[np.searchsorted(self.codes[n - 1], suffix)] = left
        starts = self.first(n, self.codes[n - 1]) == SPECIAL.index(BOS)
        adjusted[starts] = raw[starts]
        return adjusted

    def mask(self, n: int) -> int:
        """Keeps the newest n words of a code."""
        return (1 << (self.bits * n)) - 1

    def first(self, n: int, codes: np.ndarray) -> np.ndarray:
        """The oldest word id of order-n codes."""
        return codes >> (self.bits * (n - 1))


def _flatten(
    sentences: list[str], ids: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """All sentences as one id array, each wrapped in <s> </s>, and each position's
    sentence number (n-grams never cross sentences)."""
    unk, bos, eos = (SPECIAL.index(w) for w in SPECIAL)
    seq, sent = [], []
    for number, sentence in enumerate(sentences):
        words = [bos, *(ids.get(w, unk) for w in sentence.split()), eos]
        seq.extend(words)
        sent.extend([number] * len(words))
    return np.array(seq, dtype=np.int64), np.array(sent, dtype=np.int64)


def interpolated_probs(counts: NgramCounts) -> list[np.ndarray]:
    """P(w | h) for every seen n-gram, and gamma(h), the interpolation weight of
    the lower order, for every seen context.

    Returns:
        [probs_1, ..., probs_N] aligned with ``counts.codes`` and
        [gammas_1, ..., gammas_N] aligned with the codes of each order's contexts
        (``counts.codes[n - 2]`` for n >= 2; one value for the unigram "context").
    """
    probs, gammas = [], []
    vocab_size = len(counts.vocab) - 1  # everything but <s> can be predicted
    for n in range(1, counts.order + 1):
        a = counts.adjusted[n - 1].astype(np.float64)
        if n == 1:
            a[SPECIAL.index(BOS) == counts.codes[0]] = 0  # <s> is never predicted
        d = _discount_per_ngram(a)
        if n == 1:
            total, gamma = a.sum(), np.array([d.sum() / a.sum()])
            p = (a - d) / total + gamma[0] / vocab_size
            p[counts.codes[0] == SPECIAL.index(BOS)] = 0.0
        else:
            ctx = np.searchsorted(
                counts.codes[n - 2], counts.codes[n - 1] >> counts.bits
            )
            total = np.bincount(ctx, a, len(counts.codes[n - 2]))
            discounted = np.bincount(ctx, d, len(counts.codes[n - 2]))
            # a context never followed by anything (e.g. "... </s>") backs off fully
            gamma = np.where(total > 0, discounted / np.maximum(total, 1e-30), 1.0)
            lower = np.searchsorted(
                counts.codes[n - 2], counts.codes[n - 1] & counts.mask(n - 1)
            )
            p = (a - d) / total[ctx] + gamma[ctx] * probs[n - 2][lower]
        probs.append(p)
        gammas.append(gamma)
    return probs, gammas


def _discount_per_ngram(adjusted: np.ndarray) -> np.ndarray:
    """D(a): D1, D2 or D3+ by adjusted count, 0 for a count of 0."""
    t = [int((adjusted == k).sum()) for k in (1, 2, 3, 4)]
    d1, d2, d3 = kn_discounts(t)
    return np.select([adjusted == 1, adjusted == 2, adjusted >= 3], [d1, d2, d3], 0.0)


def prune(counts: NgramCounts, min_counts: tuple[int, ...]) -> list[np.ndarray]:
    """Which n-grams to list: those seen at least ``min_counts[n - 1]`` times, plus
    the prefix and suffix of every listed longer n-gram (ARPA needs each context,
    and back-off weights assume the suffix is listed). All unigrams are listed."""
    keep = [None] * counts.order
    keep[0] = np.ones(len(counts.codes[0]), dtype=bool)
    for n in range(counts.order, 1, -1):
        keep[n - 1] = counts.raw[n - 1] >= min_counts[min(n, len(min_counts)) - 1]
        if n < counts.order:
            longer = counts.codes[n][keep[n]]
            needed = np.union1d(longer >> counts.bits, longer & counts.mask(n))
            keep[n - 1] |= np.isin(counts.codes[n - 1], needed)
    return keep


def backoff_weights(counts: NgramCounts, probs, gammas, keep) -> list[np.ndarray]:
    """Back-off weight of every n-gram as a context (orders 1..N-1).

    Unpruned, it is the interpolation weight gamma(h). Where extensions of h were
    pruned, their probability mass moves to the back-off: bow(h) = (1 - sum of
    listed P(w | h)) / (1 - sum of listed P(w | h')), so every context still sums
    to one.
    """
    bows = []
    for n in range(1, counts.order):
        size = len(counts.codes[n - 1])
        ctx = np.searchsorted(counts.codes[n - 1], counts.codes[n] >> counts.bits)
        lower = np.searchsorted(counts.codes[n - 1], counts.codes[n] & counts.mask(n))
        k = keep[n]
        listed = np.bincount(ctx[k], probs[n][k], size)
        listed_lower = np.bincount(ctx[k], probs[n - 1][lower[k]], size)
        pruned = np.bincount(ctx[~k], minlength=size) > 0
        renormalised = np.maximum(1 - listed, 1e-12) / np.maximum(
            1 - listed_lower, 1e-12
        )
        bows.append(np.where(pruned, renormalised, gammas[n]))
    return bows


def estimate(sentences: list[str], config: LMConfig = LMConfig()) -> list[list[tuple]]:
    """Estimate a pruned interpolated modified Kneser-Ney model.

    Returns:
        ARPA entries per order: [(words, log10 prob, log10 back-off or None), ...].
    """
    if config.order < 2:
        raise ValueError("order must be at least 2 (KenLM reads no unigram-only model)")
    vocab = build_vocab(sentences, config)
    counts = NgramCounts(sentences, vocab, config.order)
    probs, gammas = interpolated_probs(counts)
    keep = prune(counts, config.min_counts)
    bows = backoff_weights(counts, probs, gammas, keep)
    words = np.array(vocab, dtype=object)
    orders = []
    for n in range(1, config.order + 1):
        codes, p = counts.codes[n - 1][keep[n - 1]], probs[n - 1][keep[n - 1]]
        logp = np.where(p > 0, np.log10(np.maximum(p, 1e-300)), NO_PROB)
        bow = np.log10(bows[n - 1][keep[n - 1]]) if n < config.order else None
        columns = [
            words[(codes >> (counts.bits * (n - 1 - k))) & counts.mask(1)]
            for k in range(n)
        ]
        grams = [" ".join(ws) for ws in zip(*columns, strict=True)]
        orders.append(
            [(g, float(lp), None if bow is None else float(bow[i]))
             for i, (g, lp) in enumerate(zip(grams, logp, strict=True))]
        )  # fmt: skip
    return orders


def lexicon_lines(
    words: list[str], characters: list[str]
) -> tuple[list[str], list[str]]:
    """Lexicon lines, ``word<TAB>w o r d``: each LM word spelled in the acoustic
    model's characters (the word boundary the decoder requires after each word is
    added where the trie is built, ``asr.decoding.wordlm.trie_entries``).

    Returns:
        (lexicon lines, words left out because a character is not in ``characters``).
    """
    alphabet = set(characters) - {" "}
    lines, skipped = [], []
    for word in words:
        if word in SPECIAL:
            continue
        if set(word) <= alphabet:
            lines.append(f"{word}\t{' '.join(word)}")
        else:
            skipped.append(word)
    return lines, skipped


def lm_words(path: str | Path) -> list[str]:
    """The vocabulary of an ARPA file (reads only its unigram section)."""
    return read_arpa(path, max_order=1).vocab


def _command(sub, name: str, summary: str, description: str):
    return sub.add_parser(
        name, help=summary, description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="asr lm")
    parser.description = "Language models for beam search."
    sub = parser.add_subparsers(dest="lm_command", required=True, metavar="COMMAND")
    build = _command(
        sub, "build", "estimate a pruned Kneser-Ney n-gram ARPA file from text",
        "Estimate an interpolated modified Kneser-Ney word n-gram model from text "
        "files (one sentence per line, .gz allowed), normalised like the training "
        "targets.",
    )  # fmt: skip
    build.add_argument(
        "text", nargs="+", type=Path, help="text files, one sentence a line"
    )
    build.add_argument(
        "-o", "--output", type=Path, required=True, help="ARPA file (.gz ok)"
    )
    build.add_argument("--order", type=int, default=LMConfig.order, help="n-gram order")
    build.add_argument(
        "--max-vocab", type=int, default=LMConfig.max_vocab,
        help="keep this many most frequent words; the rest become <unk>",
    )  # fmt: skip
    build.add_argument(
        "--min-counts", type=int, nargs="+", default=list(LMConfig.min_counts),
        help="least count per order (1, 2, ...) for a word / n-gram to be kept",
    )  # fmt: skip
    build.add_argument(
        "--exclude", type=Path, action="append", default=[],
        help="leave out sentences found in this file (a .jsonl manifest's text, or one "
        "sentence a line), e.g. the test or held-out transcripts; repeatable",
    )  # fmt: skip
    score = _command(
        sub, "score", "out-of-vocabulary rate and perplexity of an LM on texts",
        "How well an ARPA LM predicts texts (e.g. a dev manifest's transcripts, "
        "normalised like the training targets): the share of words outside its "
        "vocabulary and the perplexity over every word and sentence end, unknown "
        "words scored as <unk>. Lower is better for both.",
    )  # fmt: skip
    score.add_argument("lm", type=Path, help="ARPA file (.gz ok)")
    score.add_argument(
        "text", nargs="+", type=Path,
        help="a .jsonl manifest (its text field) or a text file, one sentence a line",
    )  # fmt: skip
    binary = _command(
        sub, "binary", "cache KenLM's binary form of ARPA LMs for a fast start",
        "Write KenLM's binary form of each ARPA LM into asr's cache (see "
        "docs/decoding.md, 'Start-up'); beam search then reads it in about 0.04 s "
        "instead of parsing the text (0.5 s for the shipped LM). Needs KenLM's "
        "build_binary: `make kenlm` compiles it.",
    )  # fmt: skip
    binary.add_argument("lm", nargs="+", type=Path, help="ARPA files (.gz ok)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.lm_command == "score":
        return run_score(args)
    if args.lm_command == "binary":
        return run_binary(args)
    config = LMConfig(args.order, args.max_vocab, tuple(args.min_counts))
    try:
        exclude = read_exclusions(args.exclude)
        sentences = read_sentences(args.text, exclude)
        if not sentences:
            raise ValueError("the text files hold no sentences")
        orders = estimate(sentences, config)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_arpa(args.output, orders)
        read_arpa(args.output, max_order=1)
    except (OSError, ValueError, ArpaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{len(o)} {n}-grams" for n, o in enumerate(orders, 1))
    print(f"{args.output}: {len(sentences)} sentences "
          f"({len(exclude)} excluded texts), {sizes}, "
          f"{args.output.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    return 0


def run_score(args: argparse.Namespace) -> int:
    try:
        model = read_arpa(args.lm)
        for path in args.text:
            result = score_texts(model, read_texts(path))
            share = 100 * result.oov / max(1, result.words)
            print(f"{path}: {result.sentences:,} sentences, {result.words:,} words, "
                  f"{result.oov:,} OOV ({share:.2f} %), "
                  f"perplexity {result.perplexity:.1f}")  # fmt: skip
    except (OSError, ValueError, KeyError, ArpaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run_binary(args: argparse.Namespace) -> int:
    from . import lmcache

    for path in args.lm:
        try:
            if not path.name.endswith((".arpa", ".arpa.gz")):
                raise ValueError(f"{path}: not an ARPA file (.arpa or .arpa.gz)")
            target = lmcache.build_binary(path, lmcache.binary_file(path))
        except (OSError, ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{path}: wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0
