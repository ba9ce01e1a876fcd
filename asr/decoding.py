"""From CTC posteriors to text. Greedy (best path) decoding: take the most likely
label per frame, merge repeats, drop blanks. Beam search: flashlight-text's CTC
decoder (through torchaudio) over the words of a KenLM n-gram model, with hotword
boosting."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from flashlight.lib.text.decoder import (
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
)
from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from .text import BLANK, CharTokenizer, normalize_text
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

__all__ = ["BeamSearchDecoder", "DecodeConfig", "HotwordLM", "load_lm", "clear_lm_cache"]


def ctc_collapse(ids: list[int], blank: int = BLANK) -> list[int]:
    """Merge runs of the same label, then remove blanks: [a, a, _, a, b] -> [a, a, b]."""
    out, previous = [], None
    for i in ids:
        if i != previous and i != blank:
            out.append(i)
        previous = i
    return out


def greedy_decode(
    log_probs: torch.Tensor, out_lens: torch.Tensor, tokenizer: CharTokenizer
) -> list[str]:
    """Best-path decoding of a batch.

    Args:
        log_probs: (B, T, V) CTC log posteriors.
        out_lens: (B,) valid frames per utterance.
        tokenizer: maps label ids to characters.

    Returns:
        B transcripts, with surrounding and repeated spaces removed.
    """
    best = log_probs.argmax(dim=-1).cpu()  # (B, T, V) -> (B, T)
    texts = []
    for path, length in zip(best.tolist(), out_lens.tolist()):
        text = tokenizer.decode(ctc_collapse(path[:length]))
        texts.append(" ".join(text.split()))
    return texts


# --- beam search with a word n-gram LM (flashlight-text's decoder) ---

@dataclass(frozen=True)
class DecodeConfig:
    beam_size: int = 50  # hypotheses kept after each frame
    beam_size_token: int | None = None  # tokens tried per frame (None: all of them)
    beam_threshold: float = 25.0  # drop hypotheses this far below the best (log score)
    lm_weight: float = 1.0  # scale of the LM log10 probabilities in the beam score
    word_score: float = 0.0  # added per word: > 0 favours more, shorter words
    hotwords: tuple[tuple[str, float], ...] = ()  # (word or phrase, bonus per word)


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
                 if w not in loaded.lexicon}  # fmt: skip
        self.words = ExtendedWords(loaded.words, list(extra))  # LM indices stay valid
        known = loaded.words.index_size()
        self.word_lm = HotwordLM(loaded.kenlm, self.words, config, known_words=known)
        # the trie's look-ahead scores change only for words that start a phrase
        first = {ids[0] for ids in self.word_lm.prefix_weight}
        start = self.word_lm.start(False)
        entries = [e._replace(score=self.word_lm.score(start, e.word)[1])
                   if e.word in first else e for e in loaded.entries]  # fmt: skip
        entries += trie_entries(self.vocab, self.words, extra, self.word_lm)
        self.trie = build_trie(self.vocab, entries)

    def _searcher(self, config: DecodeConfig):
        tokens = [SILENCE if c == " " else c for c in self.vocab]
        if self.loaded is None:  # lexicon-free: torchaudio's factory does it all
            return ctc_decoder(
                lexicon=None, tokens=tokens, lm=None, beam_size=config.beam_size,
                beam_size_token=config.beam_size_token,
                beam_threshold=config.beam_threshold,
                blank_token=self.vocab[BLANK], sil_token=SILENCE,
            )  # fmt: skip
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

    def __call__(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[str]:
        """Decode a batch.

        Args:
            log_probs: (B, T, V) CTC log posteriors.
            out_lens: (B,) valid frames per utterance.

        Returns:
            B transcripts, words separated by single spaces.
        """
        emissions = log_probs.detach().float().cpu().contiguous()
        lens = out_lens.cpu().int()
        with self.lock:  # flashlight's decoders keep state between calls
            if self.loaded is None:
                hypotheses = self.decoder(emissions, lens)
                return [self._characters(best) for best, *_ in hypotheses]
            return [self._words(emissions, b, int(n)) for b, n in enumerate(lens)]

    def _characters(self, best) -> str:
        chars = "".join(self.vocab[i] for i in best.tokens.tolist() if i != BLANK)
        return " ".join(chars.split())

    def _words(self, emissions: torch.Tensor, b: int, frames: int) -> str:
        """The best word sequence for utterance ``b`` of a contiguous float32 batch."""
        start = emissions.data_ptr() + 4 * b * emissions.stride(0)  # 4 bytes a float
        results = self.decoder.decode(start, frames, emissions.shape[-1])
        best = results[0].words if results else []
        return " ".join(self.words.get_entry(w) for w in best if w >= 0)


class HotwordLM(CTCDecoderLM):
    """A word LM that adds a bonus for hotwords and phrases to an inner LM.

    Each word that extends a partial match of a phrase earns the phrase's bonus;
    a match that breaks off, or is still open when the utterance ends, takes its
    bonus back, so only whole phrases gain. Bonuses are in beam-score units (the
    LM score is scaled by ``lm_weight``, so they are divided by it here). Word
    indices from ``known_words`` on (hotwords the inner LM lacks) reach it as UNK.
    """

    def __init__(self, inner, word_dict, config: DecodeConfig, known_words=None):
        CTCDecoderLM.__init__(self)
        self.inner, self.scale = inner, 1.0 / config.lm_weight
        self.known_words, self.unk = known_words, word_dict.get_index(UNK)
        self.prefix_weight: dict[tuple[int, ...], float] = {}  # best bonus per prefix
        self.phrases: dict[tuple[int, ...], float] = {}  # whole phrase -> bonus
        for phrase, weight in config.hotwords:
            ids = tuple(word_dict.get_index(w) for w in normalize_text(phrase).split())
            if ids:
                self.phrases[ids] = max(weight, self.phrases.get(ids, weight))
                for k in range(1, len(ids) + 1):
                    self.prefix_weight[ids[:k]] = max(weight, self.prefix_weight.get(ids[:k], weight))
        self.states: dict = {}  # our state -> (inner state, open match, score to reach it)

    def _potential(self, match: tuple[int, ...]) -> float:
        return len(match) * self.prefix_weight[match] if match else 0.0

    def advance(self, match: tuple[int, ...], word: int) -> tuple[tuple[int, ...], float]:
        """The open match after ``word`` and the bonus that step earns."""
        candidate = (*match, word)
        while candidate and candidate not in self.prefix_weight:
            candidate = candidate[1:]
        if candidate in self.phrases:  # a whole phrase: lock its bonus in
            return (), len(candidate) * self.phrases[candidate] - self._potential(match)
        return candidate, self._potential(candidate) - self._potential(match)

    def start(self, start_with_nothing: bool):
        state = CTCDecoderLMState()
        self.states = {}  # a new utterance: forget the last one's histories
        self.states[state] = (self.inner.start(start_with_nothing), (), 0.0)
        return state

    def score(self, state, word: int):
        child = state.child(word)
        if child not in self.states:
            inner_state, match, _ = self.states[state]
            known = self.known_words is None or word < self.known_words
            inner_word = word if known else self.unk
            inner_child, lm_score = self.inner.score(inner_state, inner_word)
            match, bonus = self.advance(match, word)
            self.states[child] = (inner_child, match, lm_score + bonus * self.scale)
        return child, self.states[child][2]

    def finish(self, state):
        inner_state, match, _ = self.states[state]
        _, lm_score = self.inner.finish(inner_state)
        return state, lm_score - self._potential(match) * self.scale


# --- command-line flags shared by transcribe, evaluate and tune-decoder ---

TUNING_NOTES = ("dev_wer", "manifest", "model")  # decoder-config keys that are not settings
HOTWORD_WEIGHT = 3.0  # default bonus per hotword word, in beam-score (natural log) units


def parse_hotwords(spec: str) -> tuple[tuple[str, float], ...]:
    """Hotwords from a file (one ``phrase[:weight]`` a line) or a comma-separated
    list of them: ``"Zorblax:5,new york"``. Weights default to HOTWORD_WEIGHT.

    Raises:
        ValueError: a weight that is not a number, or no hotword at all.
    """
    path = Path(spec)
    items = path.read_text(encoding="utf-8").splitlines() if path.is_file() else spec.split(",")
    hotwords = []
    for item in items:
        phrase, _, weight = item.strip().partition(":")
        if not phrase.strip():
            continue
        try:
            hotwords.append((phrase.strip(), float(weight) if weight else HOTWORD_WEIGHT))
        except ValueError:
            raise ValueError(f"hotword {item.strip()!r}: weight is not a number") from None
    if not hotwords:
        raise ValueError(f"no hotwords in {spec!r}")
    return tuple(hotwords)


def add_decoder_arguments(parser, lm_required: bool = False, greedy: bool = False):
    """Beam-search flags, and with ``greedy`` the ``--greedy`` switch that turns
    the default LM beam search (for models that ship decoder settings) off."""
    group = parser.add_argument_group(
        "decoding (LM beam search when the model ships <name>.decoder.json, "
        "else greedy; any beam flag asks for beam search)"
    )
    if greedy:
        group.add_argument("--greedy", action="store_true",
                           help="greedy decoding (fastest; wins over beam flags)")  # fmt: skip
    group.add_argument("--lm", type=Path, required=lm_required, default=None,
                       help="word n-gram LM (ARPA, .gz ok) for beam search")  # fmt: skip
    group.add_argument("--beam", dest="beam_size", type=int, default=None,
                       help=f"beam size (default {DecodeConfig.beam_size})")  # fmt: skip
    group.add_argument("--lm-weight", type=float, default=None,
                       help=f"LM weight (default {DecodeConfig.lm_weight})")  # fmt: skip
    group.add_argument("--word-score", type=float, default=None,
                       help=f"score added per word (default {DecodeConfig.word_score})")  # fmt: skip
    group.add_argument("--beam-threshold", type=float, default=None,
                       help=f"score margin kept in the beam (default {DecodeConfig.beam_threshold})")  # fmt: skip
    group.add_argument(
        "--hotwords", default=None,
        help="words or phrases to favour: 'name:5,new york' or a file of "
        f"'phrase[:weight]' lines (default weight {HOTWORD_WEIGHT}); needs an LM",
    )  # fmt: skip
    group.add_argument("--decoder-config", type=Path, default=None,
                       help="JSON written by `asr tune-decoder`; flags given here win")  # fmt: skip


def read_decoder_config(path: Path) -> dict:
    """Settings from a ``tune-decoder`` JSON file, without its notes; a relative
    ``lm`` is found beside the file when it is there."""
    settings = json.loads(Path(path).read_text())
    for note in TUNING_NOTES:  # what tune-decoder records beside the settings
        settings.pop(note, None)
    if settings.get("lm") and not Path(settings["lm"]).is_absolute():
        beside = Path(path).parent / settings["lm"]
        settings["lm"] = str(beside) if beside.is_file() else settings["lm"]
    return settings


def decoder_from_args(args, vocab: list[str], default_lm: Path | None = None):
    """A BeamSearchDecoder from the flags, or None for greedy decoding.

    Raises:
        ValueError, OSError: an unreadable decoder config, hotword list or LM.
    """
    fields = ("beam_size", "lm_weight", "word_score", "beam_threshold")
    settings = read_decoder_config(args.decoder_config) if args.decoder_config else {}
    for name in fields:
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    lm = args.lm or settings.pop("lm", None)
    settings.pop("lm", None)
    if args.hotwords:
        settings["hotwords"] = parse_hotwords(args.hotwords)
        lm = lm or default_lm
    if not settings and lm is None:
        return None
    if lm is not None and not Path(lm).is_file():
        raise ValueError(f"{lm}: no such language model file")
    unknown = set(settings) - set(DecodeConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown decoder settings: {sorted(unknown)}")
    return BeamSearchDecoder(vocab, lm, DecodeConfig(**settings))
