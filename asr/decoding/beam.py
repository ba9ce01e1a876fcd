"""From CTC posteriors to text. Greedy (best path) decoding: take the most likely
label per frame, merge repeats, drop blanks. Beam search: flashlight-text's CTC
decoder over the words of a KenLM n-gram model, with hotword boosting. It calls
flashlight-text directly (not through torchaudio), so it runs without torch."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flashlight.lib.text.decoder import (
    LM,
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
    LexiconFreeDecoder,
    LexiconFreeDecoderOptions,
    LMState,
    ZeroLM,
)

from ..core.arrays import as_numpy
from ..core.text import BLANK, normalize_text
from .wordlm import (
    SILENCE,
    UNK,
    ExtendedWords,
    build_trie,
    clear_lm_cache,
    load_lm,
    spell,
    trie_entries,
)

__all__ = [
    "BeamSearchDecoder",
    "DecodeConfig",
    "HotwordLM",
    "load_lm",
    "clear_lm_cache",
]


# --- beam search with a word n-gram LM (flashlight-text's decoder) ---

MAX_HOTWORDS = 100  # hotword phrases per decoder
MAX_HOTWORD_CHARS = 100  # characters per phrase: flashlight's lexicon trie crashes
#                          (signal 11) on a word of ~100,000 characters
MAX_HOTWORD_BONUS = 100.0  # |bonus| per word, in beam-score (natural log) units
MAX_BEAM_SIZE = 10_000  # hypotheses kept; far beyond any useful beam
CLOSING_FLOOR = -1e4  # log-prob of every label but the boundary in the closing frame


@dataclass(frozen=True)
class DecodeConfig:
    beam_size: int = 50  # hypotheses kept after each frame
    beam_size_token: int | None = None  # tokens tried per frame (None: all of them)
    beam_threshold: float = 25.0  # drop hypotheses this far below the best (log score)
    lm_weight: float = 1.0  # scale of the LM log10 probabilities in the beam score
    word_score: float = 0.0  # added per word: > 0 favours more, shorter words
    hotwords: tuple[tuple[str, float], ...] = ()  # (word or phrase, bonus per word)

    def __post_init__(self):
        """Refuse values that would crash or stall the native decoder."""
        _check_number("beam_size", self.beam_size, 1, MAX_BEAM_SIZE, whole=True)
        if self.beam_size_token is not None:
            _check_number(
                "beam_size_token", self.beam_size_token, 1, MAX_BEAM_SIZE, True
            )
        _check_number("beam_threshold", self.beam_threshold, low=0.0)
        _check_number("lm_weight", self.lm_weight)
        _check_number("word_score", self.word_score)
        check_hotwords(self.hotwords)


def _check_number(name: str, value, low=-math.inf, high=math.inf, whole=False) -> None:
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind}, not {value!r:.40}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value}")


def check_hotwords(hotwords) -> None:
    """Refuse hotwords the decoder cannot take: more than MAX_HOTWORDS phrases, a
    phrase longer than MAX_HOTWORD_CHARS characters, a bonus that is not a finite
    number within MAX_HOTWORD_BONUS.

    Raises:
        ValueError: one line saying which hotword and why.
    """
    if not isinstance(hotwords, (tuple, list)):
        raise ValueError(
            f"hotwords must be (phrase, bonus) pairs, not {hotwords!r:.40}"
        )
    if len(hotwords) > MAX_HOTWORDS:
        raise ValueError(
            f"{len(hotwords)} hotwords; at most {MAX_HOTWORDS} are allowed"
        )
    for item in hotwords:
        pair = isinstance(item, (tuple, list)) and len(item) == 2
        if not (pair and isinstance(item[0], str)):
            raise ValueError(f"hotword {item!r:.40} is not a (phrase, bonus) pair")
        phrase, bonus = item
        if len(phrase) > MAX_HOTWORD_CHARS:
            raise ValueError(
                f"hotword {phrase[:20]!r}... has {len(phrase)} characters; "
                f"at most {MAX_HOTWORD_CHARS} are allowed"
            )  # fmt: skip
        bound = MAX_HOTWORD_BONUS
        _check_number(f"hotword {phrase!r}: bonus", bonus, -bound, bound)


class BeamSearchDecoder:
    """CTC prefix beam search over the words of an n-gram LM, with optional hotword
    boosting. Without an LM it searches characters freely (no lexicon, no LM),
    which gives the greedy result on confident emissions. Safe to share between
    threads: one search runs at a time.

    Args:
        vocab: the acoustic model's label list (``CharTokenizer.vocab``).
        lm: an ARPA file (``.gz`` allowed) read by KenLM; its unigrams become the
            lexicon, so only its words (and hotwords) can be output. Loaded once
            per process (``load_lm``): decoders over the same file share it.
        config: beam size, weights and hotwords.
    """

    def __init__(
        self, vocab: list[str], lm: str | Path | None = None, config=DecodeConfig()
    ):
        self.vocab, self.lm = list(vocab), lm
        self.loaded = load_lm(lm, self.vocab) if lm is not None else None
        if self.loaded is not None:
            # every lexicon word ends in a word boundary (trie_entries): one certain
            # boundary frame after the audio closes the last word
            self.closing = np.full((1, len(self.vocab)), CLOSING_FLOOR, np.float32)
            self.closing[0, self.vocab.index(" ")] = 0.0
        self.lock = threading.Lock()
        self.config = None
        self.configure(config)

    def configure(self, config: DecodeConfig) -> None:
        """Switch to other settings without reading the LM again: new weights only
        rebuild the search (instant); new hotwords also rebuild the lexicon trie."""
        if config.hotwords and self.lm is None:
            raise ValueError("hotwords need a word LM (--lm) to decode with")
        if config.hotwords and config.lm_weight <= 0:
            raise ValueError("hotwords need lm_weight > 0")
        with self.lock:
            if self.config is None or self.config.hotwords != config.hotwords:
                self._search_space(config)
            self.config = config
            self.decoder = self._searcher(config)

    def _search_space(self, config: DecodeConfig) -> None:
        """Words, word LM and trie: the loaded LM's, or with hotwords added."""
        loaded = self.loaded
        if loaded is None:
            return
        if not config.hotwords:
            self.words, self.word_lm = loaded.words, loaded.kenlm
            self.trie = loaded.trie
            return
        phrases = " ".join(normalize_text(phrase) for phrase, _ in config.hotwords)
        extra = {w: s for w, s in spell(phrases.split(), self.vocab).items()
                 if not loaded.words.contains(w)}  # fmt: skip
        self.words = ExtendedWords(loaded.words, list(extra))  # LM indices stay valid
        known = loaded.words.index_size()
        self.word_lm = HotwordLM(loaded.kenlm, self.words, config, known_words=known)
        # every word of a phrase looks ahead with its bonus, not only the first:
        # else the trie prunes "steels" before the LM can see "philip steels"
        ahead = self.word_lm.lookahead()
        entries = loaded.entries + trie_entries(
            self.vocab, self.words, extra, self.word_lm
        )
        entries = [e._replace(score=ahead.get(e.word, e.score)) for e in entries]
        self.trie = build_trie(self.vocab, entries)

    def _searcher(self, config: DecodeConfig):
        tokens = [SILENCE if c == " " else c for c in self.vocab]
        if self.loaded is None:  # lexicon-free, no LM: as torchaudio's ctc_decoder
            options = LexiconFreeDecoderOptions(
                beam_size=config.beam_size,
                beam_size_token=config.beam_size_token or len(tokens),
                beam_threshold=config.beam_threshold, lm_weight=0.0, sil_score=0.0,
                log_add=False, criterion_type=CriterionType.CTC,
            )  # fmt: skip
            self.zero_lm = ZeroLM()  # held here: the decoder keeps no reference
            silence = tokens.index(SILENCE)
            return LexiconFreeDecoder(options, self.zero_lm, silence, BLANK, [])
        options = LexiconDecoderOptions(
            beam_size=config.beam_size,
            beam_size_token=config.beam_size_token or len(tokens),
            beam_threshold=config.beam_threshold, lm_weight=config.lm_weight,
            word_score=config.word_score, unk_score=float("-inf"), sil_score=0.0,
            log_add=False, criterion_type=CriterionType.CTC,
        )  # fmt: skip
        silence, unk = tokens.index(SILENCE), self.words.get_index(UNK)
        return LexiconDecoder(
            options, self.trie, self.word_lm, silence, BLANK, unk, [], False
        )

    def __call__(self, log_probs, out_lens) -> list[str]:
        """Decode a batch.

        Args:
            log_probs: (B, T, V) CTC log posteriors (a torch tensor or numpy array).
            out_lens: (B,) valid frames per utterance.

        Returns:
            B transcripts, words separated by single spaces.
        """
        emissions = as_numpy(log_probs).astype(np.float32, copy=False)
        lens = as_numpy(out_lens).astype(int)
        with self.lock:  # flashlight's decoders keep state between calls
            if self.loaded is None:
                return [self._characters(emissions, b, n) for b, n in enumerate(lens)]
            return [self._words(emissions, b, int(n)) for b, n in enumerate(lens)]

    def _characters(self, emissions: np.ndarray, b: int, frames: int) -> str:
        row = np.ascontiguousarray(emissions[b, :frames])
        results = self.decoder.decode(row.ctypes.data, frames, row.shape[1])
        tokens = results[0].tokens if results else []
        previous, chars = None, []
        for i in tokens:  # CTC: merge repeats, drop blanks
            if i != previous and i != BLANK:
                chars.append(self.vocab[i])
            previous = i
        return " ".join("".join(chars).split())

    def _words(self, emissions: np.ndarray, b: int, frames: int) -> str:
        """The best word sequence for utterance ``b`` of a float32 batch, closed by
        the boundary frame ``self.closing``."""
        padded = np.ascontiguousarray(
            np.concatenate([emissions[b, :frames], self.closing])
        )
        results = self.decoder.decode(padded.ctypes.data, frames + 1, padded.shape[1])
        best = results[0].words if results else []
        return " ".join(self.words.get_entry(w) for w in best if w >= 0)


class HotwordLM(LM):
    """A word LM that adds a bonus for hotwords and phrases to an inner LM.

    Each word that extends a partial match of a phrase earns the phrase's bonus;
    a match that breaks off, or is still open when the utterance ends, takes its
    bonus back, so only whole phrases gain. Bonuses are in beam-score units (the
    LM score is scaled by ``lm_weight``, so they are divided by it here). Word
    indices from ``known_words`` on (hotwords the inner LM lacks) reach it as UNK.
    """

    def __init__(self, inner, word_dict, config: DecodeConfig, known_words=None):
        LM.__init__(self)
        self.inner, self.scale = inner, 1.0 / config.lm_weight
        self.known_words, self.unk = known_words, word_dict.get_index(UNK)
        self.prefix_weight: dict[tuple[int, ...], float] = {}  # best bonus per prefix
        self.phrases: dict[tuple[int, ...], float] = {}  # whole phrase -> bonus
        for phrase, weight in config.hotwords:
            ids = tuple(word_dict.get_index(w) for w in normalize_text(phrase).split())
            if ids:
                self.phrases[ids] = max(weight, self.phrases.get(ids, weight))
                for k in range(1, len(ids) + 1):
                    self.prefix_weight[ids[:k]] = max(
                        weight, self.prefix_weight.get(ids[:k], weight)
                    )
        # our state -> (inner state, open match, score to reach it)
        self.states: dict = {}

    def lookahead(self) -> dict[int, float]:
        """An optimistic unigram score for each word of a phrase, for the lexicon
        trie's pruning: the inner LM's unigram score plus the largest bonus any
        phrase gives that word (the exact score comes when the word ends)."""
        start, bonus = self.inner.start(False), {}
        for ids, weight in self.phrases.items():
            for word in ids:
                bonus[word] = max(weight, bonus.get(word, weight))
        return {
            word: self.inner.score(start, self._inner_word(word))[1] + b * self.scale
            for word, b in bonus.items()
        }

    def _inner_word(self, word: int) -> int:
        known = self.known_words is None or word < self.known_words
        return word if known else self.unk

    def _potential(self, match: tuple[int, ...]) -> float:
        return len(match) * self.prefix_weight[match] if match else 0.0

    def advance(
        self, match: tuple[int, ...], word: int
    ) -> tuple[tuple[int, ...], float]:
        """The open match after ``word`` and the bonus that step earns."""
        candidate = (*match, word)
        while candidate and candidate not in self.prefix_weight:
            candidate = candidate[1:]
        if candidate in self.phrases:  # a whole phrase: lock its bonus in
            return (), len(candidate) * self.phrases[candidate] - self._potential(match)
        return candidate, self._potential(candidate) - self._potential(match)

    def start(self, start_with_nothing: bool):
        state = LMState()
        self.states = {}  # a new utterance: forget the last one's histories
        self.states[state] = (self.inner.start(start_with_nothing), (), 0.0)
        return state

    def score(self, state, word: int):
        child = state.child(word)
        if child not in self.states:
            inner_state, match, _ = self.states[state]
            inner_child, lm_score = self.inner.score(
                inner_state, self._inner_word(word)
            )
            match, bonus = self.advance(match, word)
            self.states[child] = (inner_child, match, lm_score + bonus * self.scale)
        return child, self.states[child][2]

    def finish(self, state):
        inner_state, match, _ = self.states[state]
        _, lm_score = self.inner.finish(inner_state)
        return state, lm_score - self._potential(match) * self.scale
