"""From CTC posteriors to text. Greedy (best path) decoding: take the most likely
label per frame, merge repeats, drop blanks. Beam search: flashlight-text's CTC
decoder (through torchaudio) over the words of a KenLM n-gram model, with hotword
boosting."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from flashlight.lib.text.decoder.kenlm import KenLM as _KenLM
from flashlight.lib.text.dictionary import create_word_dict as _create_word_dict
from flashlight.lib.text.dictionary import load_words as _load_words
from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from .options import bounded_int, finite_float, non_negative_float
from .text import BLANK, CharTokenizer, normalize_text


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


# --- beam search with a word n-gram LM (flashlight-text's decoder, via torchaudio) ---

SILENCE = "|"  # flashlight's word-boundary token; our vocabulary's space plays that part
MAX_HOTWORDS = 100  # hotword phrases per decoder
MAX_HOTWORD_CHARS = 100  # characters per phrase: flashlight's lexicon trie crashes
#                          (signal 11) on a word of ~100,000 characters
MAX_HOTWORD_BONUS = 100.0  # |bonus| per word, in beam-score (natural log) units
MAX_BEAM_SIZE = 10_000  # hypotheses kept; far beyond any useful beam


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
            _check_number("beam_size_token", self.beam_size_token, 1, MAX_BEAM_SIZE, True)
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
        raise ValueError(f"hotwords must be (phrase, bonus) pairs, not {hotwords!r:.40}")
    if len(hotwords) > MAX_HOTWORDS:
        raise ValueError(f"{len(hotwords)} hotwords; at most {MAX_HOTWORDS} are allowed")
    for item in hotwords:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"hotword {item!r:.40} is not a (phrase, bonus) pair")
        phrase, bonus = item
        if len(phrase) > MAX_HOTWORD_CHARS:
            raise ValueError(f"hotword {phrase[:20]!r}... has {len(phrase)} characters; "
                             f"at most {MAX_HOTWORD_CHARS} are allowed")  # fmt: skip
        bound = MAX_HOTWORD_BONUS
        _check_number(f"hotword {phrase!r}: bonus", bonus, -bound, bound)


class BeamSearchDecoder:
    """CTC prefix beam search over the words of an n-gram LM, with optional hotword
    boosting. Without an LM it searches characters freely (no lexicon, no LM),
    which gives the greedy result on confident emissions.

    Args:
        vocab: the acoustic model's label list (``CharTokenizer.vocab``).
        lm: an ARPA file (``.gz`` allowed) read by KenLM; its unigrams become the
            lexicon, so only its words can be output.
        config: beam size, weights and hotwords.
    """

    def __init__(self, vocab: list[str], lm: str | Path | None = None, config=DecodeConfig()):
        self.vocab, self.lm = list(vocab), lm
        self._tmp = tempfile.TemporaryDirectory()  # holds the lexicon while we live
        self.config = None
        self.configure(config)

    def _load(self, config: DecodeConfig) -> None:
        """Write the lexicon (LM words + hotwords) and load the LM over it."""
        self.lexicon = self._write_lexicon(Path(self._tmp.name) / "lexicon.txt", config)
        # the same word -> index map that ctc_decoder builds from the lexicon
        self.words = _create_word_dict(_load_words(self.lexicon)) if self.lm else None
        try:
            with _quiet_stdio():  # KenLM prints progress bars while loading
                self.kenlm = _KenLM(str(self.lm), self.words) if self.lm else None
        except RuntimeError as error:  # KenLM's message: source location, then the reason
            reason = str(error).strip().splitlines()[-1]
            raise ValueError(f"{self.lm}: KenLM cannot load it ({reason})") from None

    def configure(self, config: DecodeConfig) -> None:
        """Switch to other beam settings, keeping the loaded LM (cheap)."""
        if config.hotwords and self.lm is None:
            raise ValueError("hotwords need a word LM (--lm) to decode with")
        if config.hotwords and config.lm_weight <= 0:
            raise ValueError("hotwords need lm_weight > 0")
        if self.config is None or self.config.hotwords != config.hotwords:
            self._load(config)  # hotwords may add words to the lexicon
        self.config = config
        word_lm = HotwordLM(self.kenlm, self.words, config) if config.hotwords else self.kenlm
        self.decoder = ctc_decoder(
            lexicon=self.lexicon, tokens=[SILENCE if c == " " else c for c in self.vocab],
            lm=word_lm, beam_size=config.beam_size, beam_size_token=config.beam_size_token,
            beam_threshold=config.beam_threshold, lm_weight=config.lm_weight,
            word_score=config.word_score, blank_token=self.vocab[BLANK], sil_token=SILENCE,
        )  # fmt: skip

    def _write_lexicon(self, path: Path, config: DecodeConfig) -> str | None:
        """Spell the LM's words and the hotwords; None without an LM."""
        from .lm import lexicon_lines, lm_words  # the LM builder, imported on demand

        if self.lm is None:
            return None
        words = lm_words(self.lm)
        extra = [w for phrase, _ in config.hotwords for w in normalize_text(phrase).split()]
        lines, _ = lexicon_lines(list(dict.fromkeys([*words, *extra])), self.vocab)
        if not lines:
            raise ValueError(f"{self.lm}: no LM word can be spelled with the model's labels")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    def __call__(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[str]:
        """Decode a batch.

        Args:
            log_probs: (B, T, V) CTC log posteriors.
            out_lens: (B,) valid frames per utterance.

        Returns:
            B transcripts, words separated by single spaces.
        """
        emissions = log_probs.detach().float().cpu().contiguous()
        hypotheses = self.decoder(emissions, out_lens.cpu().int())
        texts = []
        for best, *_ in hypotheses:
            if self.lm is not None:
                texts.append(" ".join(best.words))
            else:
                chars = "".join(self.vocab[i] for i in best.tokens.tolist() if i != BLANK)
                texts.append(" ".join(chars.split()))
        return texts


class HotwordLM(CTCDecoderLM):
    """A word LM that adds a bonus for hotwords and phrases to an inner LM.

    Each word that extends a partial match of a phrase earns the phrase's bonus;
    a match that breaks off, or is still open when the utterance ends, takes its
    bonus back, so only whole phrases gain. Bonuses are in beam-score units (the
    LM score is scaled by ``lm_weight``, so they are divided by it here).
    """

    def __init__(self, inner, word_dict, config: DecodeConfig):
        CTCDecoderLM.__init__(self)
        self.inner, self.scale = inner, 1.0 / config.lm_weight
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
            inner_child, lm_score = self.inner.score(inner_state, word)
            match, bonus = self.advance(match, word)
            self.states[child] = (inner_child, match, lm_score + bonus * self.scale)
        return child, self.states[child][2]

    def finish(self, state):
        inner_state, match, _ = self.states[state]
        _, lm_score = self.inner.finish(inner_state)
        return state, lm_score - self._potential(match) * self.scale


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


# --- command-line flags shared by transcribe, evaluate and tune-decoder ---

TUNING_NOTES = ("dev_wer", "manifest", "model")  # decoder-config keys that are not settings
HOTWORD_WEIGHT = 3.0  # default bonus per hotword word, in beam-score (natural log) units


def parse_hotwords(spec: str) -> tuple[tuple[str, float], ...]:
    """Hotwords from a file (one ``phrase[:weight]`` a line) or a comma-separated
    list of them: ``"Zorblax:5,new york"``. Weights default to HOTWORD_WEIGHT.

    Raises:
        ValueError: a weight that is not a finite number, no hotword at all, or
            too many or too long hotwords (``check_hotwords``).
    """
    path = Path(spec) if len(spec) < 4096 and "\0" not in spec else None  # else not a path
    is_file = path is not None and path.is_file()
    items = path.read_text(encoding="utf-8").splitlines() if is_file else spec.split(",")
    hotwords = []
    for item in items:
        phrase, _, weight = item.strip().partition(":")
        if not phrase.strip():
            continue
        try:
            hotwords.append((phrase.strip(), float(weight) if weight else HOTWORD_WEIGHT))
        except ValueError:
            raise ValueError(f"hotword {item.strip()[:40]!r}: weight is not a number") from None
    if not hotwords:
        raise ValueError(f"no hotwords in {spec[:40]!r}")
    check_hotwords(hotwords)
    return tuple(hotwords)


def beam_size_arg(value: str) -> int:
    """argparse type: a beam size, 1 to MAX_BEAM_SIZE."""
    return bounded_int(value, 1, MAX_BEAM_SIZE)


def hotwords_arg(value: str) -> str:
    """argparse type: a --hotwords value ``parse_hotwords`` accepts, kept as given."""
    try:
        parse_hotwords(value)
    except (ValueError, OSError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def add_decoder_arguments(parser, lm_required: bool = False) -> None:
    """Beam-search flags; without any of them decoding stays greedy."""
    group = parser.add_argument_group("beam search (greedy decoding when none is given)")
    group.add_argument("--lm", type=Path, required=lm_required, default=None,
                       help="word n-gram LM (ARPA, .gz ok) for beam search")  # fmt: skip
    group.add_argument("--beam", dest="beam_size", type=beam_size_arg, default=None,
                       help=f"beam size (default {DecodeConfig.beam_size})")  # fmt: skip
    group.add_argument("--lm-weight", type=finite_float, default=None,
                       help=f"LM weight (default {DecodeConfig.lm_weight})")  # fmt: skip
    group.add_argument("--word-score", type=finite_float, default=None,
                       help=f"score added per word (default {DecodeConfig.word_score})")  # fmt: skip
    group.add_argument("--beam-threshold", type=non_negative_float, default=None,
                       help=f"score margin kept in the beam (default {DecodeConfig.beam_threshold})")  # fmt: skip
    group.add_argument(
        "--hotwords", default=None, type=hotwords_arg,
        help="words or phrases to favour: 'name:5,new york' or a file of "
        f"'phrase[:weight]' lines (default weight {HOTWORD_WEIGHT}; at most "
        f"{MAX_HOTWORDS} of {MAX_HOTWORD_CHARS} characters); needs an LM",
    )  # fmt: skip
    group.add_argument("--decoder-config", type=Path, default=None,
                       help="JSON written by `asr tune-decoder`; flags given here win")  # fmt: skip


def read_decoder_config(path: Path) -> dict:
    """Settings from a ``tune-decoder`` JSON file, without its notes; a relative
    ``lm`` is found beside the file when it is there.

    Raises:
        ValueError: unreadable or malformed JSON, or a setting of the wrong type or
            range; the message names the file.
    """
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON decoder config ({error})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a JSON object of decoder settings")
    for note in TUNING_NOTES:  # what tune-decoder records beside the settings
        settings.pop(note, None)
    lm = settings.pop("lm", None)
    if lm is not None and not (isinstance(lm, str) and lm):
        raise ValueError(f"{path}: lm must be the path of an ARPA file, not {lm!r:.40}")
    unknown = set(settings) - set(DecodeConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown decoder settings {sorted(unknown)}")
    if isinstance(settings.get("hotwords"), list):  # JSON has no tuples
        settings["hotwords"] = tuple(tuple(h) if isinstance(h, list) else h
                                     for h in settings["hotwords"])  # fmt: skip
    try:
        DecodeConfig(**settings)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if lm:
        beside = Path(path).parent / lm
        settings["lm"] = str(beside) if beside.is_file() and not Path(lm).is_absolute() else lm
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
