"""A word n-gram LM ready for CTC beam search: the KenLM model, the lexicon (each LM
word spelled in the acoustic model's labels) and the prefix trie over it. Reading
them takes seconds, so ``load_lm`` does it once per process and every decoder over
the same file (other weights, other hotwords) shares the result."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from flashlight.lib.text.decoder import SmearingMode, Trie
from flashlight.lib.text.decoder.kenlm import KenLM as _KenLM
from flashlight.lib.text.dictionary import Dictionary
from flashlight.lib.text.dictionary import create_word_dict as _create_word_dict

from . import lmcache
from .arpa import MAX_WORD_CHARS  # longer LM words are refused: the trie crashes

SILENCE = "|"  # flashlight's word boundary; the space of our vocabulary plays it
UNK = "<unk>"  # the word every unknown word maps to (flashlight's and KenLM's)


@dataclass(frozen=True)
class LoadedLM:
    """A KenLM model with the lexicon and prefix trie built over it for one label
    set: the expensive part of a decoder, loaded once per process (``load_lm``)."""

    words: Dictionary  # word <-> index, as the trie and the LM see them
    kenlm: object  # flashlight's KenLM over ``words``
    entries: list[TrieEntry]  # what the trie holds, kept to build variants fast
    trie: Trie  # ``entries``, smeared


class TrieEntry(NamedTuple):
    word: int  # index in the word dictionary
    labels: list[int]  # its spelling as label indices, then SILENCE (see trie_entries)
    score: float  # its unigram LM score, the trie's look-ahead


_LOADED: dict[tuple, LoadedLM] = {}  # (file, mtime, size, labels) -> LoadedLM
_LOADING = threading.Lock()


def load_lm(path: str | Path, vocab: list[str]) -> LoadedLM:
    """The LM at ``path`` for a model with labels ``vocab``, read from disk only the
    first time in a process; every later decoder over the same file (other weights,
    other hotwords) shares it.

    Raises:
        OSError: no such file. ValueError: KenLM refuses it, or no word of it can be
            spelled with ``vocab``.
    """
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, tuple(vocab))
    with _LOADING:  # a second thread waits for the first load instead of repeating it
        if key not in _LOADED:
            _LOADED[key] = _read_lm(Path(path), list(vocab))
        return _LOADED[key]


def clear_lm_cache() -> None:
    """Forget the loaded LMs (their memory is freed once no decoder holds them)."""
    with _LOADING:
        _LOADED.clear()


def _read_lm(path: Path, vocab: list[str]) -> LoadedLM:
    """Read the LM, using and refreshing the on-disk cache (``lmcache``): a cached
    lexicon skips spelling and scoring every word, a binary LM skips parsing."""
    cached = lmcache.read_lexicon(path, vocab)
    if cached is None:
        return _read_lm_uncached(path, vocab)
    words = Dictionary(cached.words)
    words.set_default_index(words.get_index(UNK))
    kenlm = _kenlm(path, words)
    entries = [TrieEntry(*entry) for entry in zip(*cached[1:], strict=True)]
    return LoadedLM(words, kenlm, entries, build_trie(vocab, entries))


def _read_lm_uncached(path: Path, vocab: list[str]) -> LoadedLM:
    from .lm import lm_words  # the LM builder, imported on demand

    words = lm_words(path)
    for word in words:  # before KenLM and the trie see it (100,000 letters: signal 11)
        if len(word) > MAX_WORD_CHARS:
            raise ValueError(
                f"{path}: an LM word of {len(word)} characters ({word[:20]}...); "
                f"at most {MAX_WORD_CHARS}"
            )
    lexicon = {UNK: [], **spell(words, vocab)}
    if len(lexicon) == 1:
        raise ValueError(f"{path}: no LM word can be spelled with the model's labels")
    words = _create_word_dict(lexicon)
    kenlm = _kenlm(path, words)
    entries = trie_entries(vocab, words, lexicon, kenlm)
    order = [words.get_entry(i) for i in range(words.index_size())]
    cache = lmcache.Lexicon(order, *map(list, zip(*entries, strict=True)))
    lmcache.write_lexicon(path, vocab, cache)
    return LoadedLM(words, kenlm, entries, build_trie(vocab, entries))


def _kenlm(path: Path, words: Dictionary):
    """flashlight's KenLM over ``words``: from the cached binary form when there is
    one (or the tool to build it), else from the ARPA text."""
    binary = lmcache.binary_for(path) if _is_arpa(path) else None
    for source in [binary, path] if binary else [path]:
        try:
            with _quiet_stdio():  # KenLM prints progress bars while loading
                return _KenLM(str(source), words)
        except RuntimeError as error:  # KenLM: source location, then the reason
            reason = str(error).strip().splitlines()[-1]
    raise ValueError(f"{path}: KenLM cannot load it ({reason})") from None


def _is_arpa(path: Path) -> bool:
    return path.name.endswith((".arpa", ".arpa.gz"))


def spell(words, vocab: list[str]) -> dict[str, list[list[str]]]:
    """Spellings of the words the model's labels can write (one per word)."""
    from .lm import lexicon_lines

    lines, _ = lexicon_lines(list(words), vocab)
    pairs = (line.split("\t") for line in lines)
    return {word: [spelling.split()] for word, spelling in pairs}


def _tokens(vocab: list[str]) -> Dictionary:
    return Dictionary([SILENCE if c == " " else c for c in vocab])


def trie_entries(vocab: list[str], words, lexicon: dict, lm) -> list[TrieEntry]:
    """Every spelling of ``lexicon`` with its word's index and unigram score.

    Each spelling ends in SILENCE (the space the model emits between words), as
    wav2letter's lexicons do: a word is complete only where the model put a word
    boundary, so the search cannot cut one heard word into several short LM words
    ("six" as "si xx"). The decoder closes the last word with one silence frame
    appended after the utterance (``BeamSearchDecoder``)."""
    label = {SILENCE if c == " " else c: i for i, c in enumerate(vocab)}  # as _tokens
    start = lm.start(False)
    entries = []
    for word, spellings in lexicon.items():
        index = words.get_index(word)
        _, score = lm.score(start, index)
        for spelling in spellings:
            labels = [label[t] for t in [*spelling, SILENCE]]
            entries.append(TrieEntry(index, labels, score))
    return entries


def build_trie(vocab: list[str], entries: list[TrieEntry]) -> Trie:
    """The prefix trie of the spellings, smeared (each node keeps the best score
    below it) so the search can prune words before they are complete."""
    tokens = _tokens(vocab)
    trie = Trie(tokens.index_size(), tokens.get_index(SILENCE))
    for entry in entries:
        trie.insert(entry.labels, entry.word, entry.score)
    trie.smear(SmearingMode.MAX)
    return trie


class ExtendedWords:
    """A word dictionary plus words appended after it (hotwords the LM lacks),
    without copying it; unknown words map to UNK."""

    def __init__(self, base: Dictionary, extra: list[str]):
        self.base, self.extra, self.known = base, list(extra), base.index_size()
        self.unk = base.get_index(UNK)

    def get_index(self, word: str) -> int:
        if word in self.extra:
            return self.known + self.extra.index(word)
        return self.base.get_index(word) if self.base.contains(word) else self.unk

    def get_entry(self, index: int) -> str:
        if index < self.known:
            return self.base.get_entry(index)
        return self.extra[index - self.known]


@contextlib.contextmanager
def _quiet_stdio():
    """Silence C++ writes to stdout/stderr (KenLM's loading messages)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
