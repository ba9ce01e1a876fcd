"""Decoding constrained to a grammar: which of a grammar's sentences was said, or
none of them.

The grammar is searched, never listed: a CTC beam search over its word graph
spelled in the model's characters (``asr.decoding.graphsearch``) proposes the
``NBEST`` best sentences, and each is then scored exactly, its log-likelihood
log P(sentence | audio) summed over all alignments by the CTC forward algorithm
(``sentence_scores``, in numpy: the ONNX runtime has no torch; the tests check it
against ``torch.nn.functional.ctc_loss``). For small grammars ``search="exact"``
scores every sentence instead (a check of the search). The out-of-grammar alternative is
the unconstrained best guess, the greedy transcript, scored the same way and
lowered by ``unk_penalty`` nats, so that in-grammar speech, whose greedy
transcript is a near miss of a sentence, still matches that sentence while other
speech, whose transcript is far from every sentence, does not; audio in which
the model hears nothing at all is out of grammar. The confidence is the softmax
of these scores divided by a temperature (``TEMPERATURE_PER_CHAR``), fitted so
that answers given 0.9 are right about 90 % of the time
(recipes/commands/large_grammar.py, docs/grammars.md).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from ..core import options
from ..core.arrays import as_numpy
from ..core.text import BLANK, CharTokenizer
from .alignment import ctc_states
from .grammar import UNK, Grammar, GrammarError, as_grammar
from .graphsearch import BEAM, NBEST, SearchError, search, spell
from .greedy import greedy_decode

# Nats by which the greedy transcript must out-score the best sentence for the
# audio to be called out of grammar, and the largest distance of that transcript
# from the sentence. Chosen for data/models/default.pt on training and dev data only
# (wakeword and FSDD training clips against LibriSpeech dev and Kathleen sentences:
# a range of penalties around 15 nats makes no error there, without a distance
# limit; this is its middle) by recipes/commands/tune_unk.py; see docs/grammars.md.
# Never tuned on a test set. Chosen again whenever the default model changes.
UNK_PENALTY = 15.0
# Nats added to the penalty per character of the best sentence: long sentences
# (recipes/commands/coffee) lose more to a weak acoustic model than short commands.
# Chosen by recipes/commands/large_grammar.py on the fit voices' synthetic clips.
UNK_PER_CHAR = 1.2
MAX_DISTANCE = float("inf")  # edits per sentence character; inf: no limit
MAX_CELLS = 4_000_000  # CTC lattice cells (targets x frames x states) per chunk
# The scores are divided by a temperature before the softmax that gives the
# confidence: this many nats per character of the best sentence (score gaps grow
# with length), at least 1. The value with the least log loss on the fit voices'
# synthetic coffee orders (recipes/commands/large_grammar.py; docs/grammars.md).
TEMPERATURE_PER_CHAR = 0.68
MAX_MATCH_SECONDS = 120  # a command longer than this is refused (memory grows with it)
CACHE_BYTES = 256 * 2**20  # compiled grammars kept for reuse, in bytes at most


@dataclass(frozen=True)
class Match:
    text: str  # the matched sentence, or "[unk]" when the audio is out of grammar
    confidence: float  # posterior of ``text`` among the sentences and out-of-grammar
    slots: dict = field(default_factory=dict)  # slot name -> value of the sentence
    intent: str = ""  # template section or public JSGF rule of the sentence
    sentence: str = ""  # the best sentence, even when ``text`` is "[unk]"
    heard: str = ""  # the unconstrained (greedy) transcript
    margin: float = 0.0  # log P(sentence) - log P(heard), nats; [unk] below -penalty
    distance: float = 0.0  # character edits from heard to sentence / sentence length
    # the log-likelihoods the confidence is the softmax of (candidate sentences, then
    # out-of-grammar when allowed) and the answer's index in them: for calibration
    scores: tuple[float, ...] = field(default=(), repr=False, compare=False)
    choice: int = field(default=0, repr=False, compare=False)

    @property
    def is_unk(self) -> bool:
        return self.text == UNK

    def to_json(self) -> str:
        """One line of valid JSON: a margin or distance that is not finite (nothing
        fitted, nothing voiced) is null, never JSON's invalid ``Infinity``."""
        return json.dumps(
            {"text": self.text, "confidence": _finite(self.confidence, 4),
             "slots": self.slots, "intent": self.intent, "sentence": self.sentence,
             "heard": self.heard, "margin": _finite(self.margin, 2),
             "distance": _finite(self.distance, 3)},
            ensure_ascii=False, allow_nan=False,
        )  # fmt: skip


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


class GrammarDecoder:
    """Chooses among a grammar's sentences for a batch of CTC posteriors.

    Args:
        grammar: the compiled grammar.
        tokenizer: the acoustic model's tokenizer (every word must be spelled).
        unk_penalty: nats the free transcript must win by to be out of grammar.
        allow_unk: may the answer be "[unk]"? None follows ``grammar.allow_unk``.
        max_distance: farthest the free transcript may be from the sentence
            (edits per sentence character) for the sentence to be accepted.
        search: "graph" (beam search over the grammar, any size) or "exact" (score
            every sentence; at most ``MAX_SENTENCES``).
        beam: hypotheses the graph search keeps per frame.

    Raises:
        GrammarError: a word holds a character the model cannot output; a bad
            setting; "exact" on a grammar too large to list.
    """

    def __init__(
        self,
        grammar: Grammar,
        tokenizer: CharTokenizer,
        unk_penalty: float = UNK_PENALTY,
        allow_unk: bool | None = None,
        max_distance: float = MAX_DISTANCE,
        search: str = "graph",
        beam: int = BEAM,
    ):
        check_settings(unk_penalty, max_distance)
        if search not in ("graph", "exact"):
            raise GrammarError(f"search is 'graph' or 'exact', not {search!r}")
        check_spelling(grammar, tokenizer.vocab)
        self.grammar, self.tokenizer, self.unk_penalty = grammar, tokenizer, unk_penalty
        self.allow_unk = grammar.allow_unk if allow_unk is None else allow_unk
        self.max_distance, self.mode, self.beam = max_distance, search, beam
        try:
            self.chars = spell(grammar.graph, tokenizer.ids, tokenizer.ids[" "])
        except SearchError as error:
            raise GrammarError(f"{grammar.source}: {error}") from None
        if search == "exact":  # targets unpadded, one after another
            targets = [self._ids(s.text) for s in grammar.sentences]
            self.target_lens = np.array([len(t) for t in targets], np.int64)
            self.targets = np.array([i for t in targets for i in t], np.int64)

    def nbytes(self) -> int:
        """Memory held by the compiled grammar, in bytes (roughly)."""
        exact = self.targets.nbytes if self.mode == "exact" else 0
        return self.grammar.graph.nbytes() + self.chars.nbytes() + exact

    def _ids(self, text: str) -> list[int]:
        return [self.tokenizer.ids[c] for c in text]

    def __call__(self, log_probs, out_lens) -> list[Match]:
        """One ``Match`` per utterance of a (B, T, V) batch (torch or numpy) with
        (B,) lengths."""
        log_probs, out_lens = as_numpy(log_probs), as_numpy(out_lens)
        heard = greedy_decode(log_probs, out_lens, self.tokenizer)
        return [
            self.match(log_probs[b, : int(out_lens[b])], heard[b])
            for b in range(len(heard))
        ]

    def nothing_voiced(self) -> Match:
        """The answer for audio without speech (``asr.audio.vad.has_speech``):
        out of grammar, whether or not the grammar allows [unk], and certain."""
        return Match(UNK, 1.0, {}, "", "", "", -math.inf, math.inf)

    def candidates(self, emissions: np.ndarray):
        """Sentences worth scoring: (texts, their label ids one after another,
        their lengths)."""
        if self.mode == "exact":
            texts = [s.text for s in self.grammar.sentences]
            return texts, self.targets, self.target_lens
        found = search(self.chars, emissions, self.beam, NBEST)
        if not found:  # the beam lost every complete sentence: search wider once
            found = search(self.chars, emissions, 4 * self.beam, NBEST)
        texts = ["".join(self.tokenizer.vocab[i] for i in ids) for ids, _ in found]
        ids = [self._ids(t) for t in texts]
        lens = np.array([len(i) for i in ids], np.int64)
        return texts, np.array(sum(ids, []), np.int64), lens

    def match(self, emissions, heard: str) -> Match:
        """The answer for one utterance's (T, V) log posteriors and greedy text."""
        emissions = as_numpy(emissions).astype(np.float32, copy=False)
        texts, targets, lens = self.candidates(emissions)
        free_ids = np.array(self._ids(heard), np.int64)  # scored in the same pass
        scores = sentence_scores(
            emissions,
            np.concatenate([targets, free_ids]),
            np.append(lens, len(free_ids)),
        )
        scores, free = scores[:-1], float(scores[-1])
        if not texts or not np.isfinite(scores.max()):  # no sentence fits at all
            return Match(UNK, 1.0, {}, "", "", heard, -math.inf, math.inf)
        best = int(scores.argmax())
        text = texts[best]
        everything = scores
        if self.allow_unk:  # a longer sentence has more letters to get wrong
            penalty = self.unk_penalty + UNK_PER_CHAR * len(text)
            everything = np.append(scores, free - penalty)
        temperature = max(1.0, TEMPERATURE_PER_CHAR * len(text))
        posterior = _softmax(everything / temperature)
        margin = float(scores[best] - free)
        distance = Levenshtein.distance(heard, text) / len(text)
        far = distance > self.max_distance
        silent = not heard.strip()  # the model heard nothing: not a command
        if self.allow_unk and (far or silent or bool(everything[-1] > scores[best])):
            if far or silent:  # rejected on other grounds: posterior without penalty
                everything = np.append(scores, free)
            unk = float(_softmax(everything / temperature)[-1])
            evidence = tuple(everything.tolist())
            return Match(UNK, unk, {}, "", text, heard, margin, distance,
                         evidence, len(evidence) - 1)  # fmt: skip
        sentence = self.grammar.find(text)
        slots, intent = (
            (dict(sentence.slots), sentence.intent) if sentence else ({}, "")
        )
        return Match(text, float(posterior[best]), slots, intent, text, heard,
                     margin, distance, tuple(everything.tolist()), best)  # fmt: skip


def check_settings(unk_penalty: float, max_distance: float) -> None:
    """Refuse a penalty or distance that is not a number (NaN) or is infinite
    (a penalty of 1e999 would silently turn [unk] off)."""
    if not math.isfinite(unk_penalty):
        raise GrammarError(
            f"the [unk] penalty must be a finite number, not {unk_penalty}"
        )
    if math.isnan(max_distance) or max_distance < 0:
        raise GrammarError(
            f"the [unk] distance must be >= 0 or inf, not {max_distance}"
        )


def check_spelling(grammar: Grammar, vocab: list[str]) -> None:
    """Refuse a word with a character the acoustic model cannot output."""
    alphabet = set(vocab)
    graph = grammar.graph
    for arc, word in enumerate(graph.word):
        missing = sorted(set(word) - alphabet)
        if word and missing:
            line = _line_of(graph, arc)
            raise GrammarError(
                f"{grammar.source}:{line}: the model cannot spell "
                f"{''.join(missing)!r} in {word!r}"
            )


def _line_of(graph, arc: int) -> int:
    """The grammar line of the template an arc belongs to (the last intent arc
    made before it: templates are compiled one after another)."""
    for earlier in range(arc, -1, -1):
        tag = graph.tag[earlier]
        if tag is not None and tag[0] == "intent":
            return tag[2]
    return 1


def _softmax(scores: np.ndarray) -> np.ndarray:
    """softmax in float64; -inf scores get 0."""
    scores = np.asarray(scores, np.float64)
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def sentence_scores(emissions, targets, target_lens) -> np.ndarray:
    """log P(target | audio) under CTC for each of N targets: the CTC forward
    algorithm, what ``torch.nn.functional.ctc_loss`` computes (negated), in numpy
    so that grammar matching runs without torch (tests/test_grammar.py compares
    the two).

    Args:
        emissions: (T, V) log posteriors of one utterance (numpy or torch).
        targets: (N, L) label ids, padded, or (sum of lengths,) one after another;
            target_lens: (N,) their lengths.

    Returns:
        (N,) log-likelihoods in nats (float64); -inf for a target too long for T
        frames.
    """
    emissions = as_numpy(emissions).astype(np.float64, copy=False)
    targets, target_lens = as_numpy(targets), as_numpy(target_lens).astype(np.int64)
    frames = emissions.shape[0]
    if targets.ndim == 2:
        targets = np.concatenate(
            [t[:n] for t, n in zip(targets, target_lens, strict=True)]
        )
    offsets = np.concatenate([[0], np.cumsum(target_lens)])
    scores, start = [], 0
    while start < len(target_lens):  # chunks of at most MAX_CELLS lattice cells
        width, stop = int(target_lens[start]), start + 1
        while stop < len(target_lens):
            wider = max(width, int(target_lens[stop]))
            if (stop + 1 - start) * frames * (2 * wider + 1) > MAX_CELLS:
                break
            width, stop = wider, stop + 1
        chunk = [targets[offsets[i] : offsets[i + 1]] for i in range(start, stop)]
        scores.append(_ctc_forward(emissions, chunk, width))
        start = stop
    return np.concatenate(scores) if scores else np.empty(0)


def _ctc_forward(emissions: np.ndarray, labels: list[np.ndarray], width: int):
    """Log-likelihoods of N label sequences (each at most ``width`` long) under
    (T, V) log posteriors, all N advanced together one frame at a time over the
    extended sequences (blank, l1, blank, l2, ..., blank)."""
    n, states = len(labels), 2 * width + 1
    extended, skip = ctc_states(labels, width)
    lens = np.array([len(ids) for ids in labels], np.int64)
    valid = np.arange(states)[None, :] < (2 * lens + 1)[:, None]
    alpha = np.full((n, states), -np.inf)
    alpha[:, 0] = emissions[0, BLANK]
    if states > 1:  # the first label (masked below where there is none)
        alpha[:, 1] = emissions[0, extended[:, 1]]
    alpha[~valid] = -np.inf
    with np.errstate(invalid="ignore"):  # -inf - -inf inside logaddexp: stays -inf
        for t in range(1, emissions.shape[0]):
            step, jump = np.full_like(alpha, -np.inf), np.full_like(alpha, -np.inf)
            step[:, 1:] = alpha[:, :-1]  # from the state before
            jump[:, 2:] = np.where(skip[:, 2:], alpha[:, :-2], -np.inf)
            alpha = np.logaddexp(np.logaddexp(alpha, step), jump)
            alpha += emissions[t][extended]
            alpha[~valid] = -np.inf
    rows = np.arange(n)
    last = alpha[rows, 2 * lens]
    before = np.where(lens > 0, alpha[rows, np.maximum(2 * lens - 1, 0)], -np.inf)
    return np.logaddexp(last, before)


class _DecoderCache:
    """Compiled grammars by (grammar text or object, vocabulary, settings), least
    recently used dropped first, holding at most ``CACHE_BYTES``."""

    def __init__(self, limit: int = CACHE_BYTES):
        self.limit, self.items = limit, {}

    def get(self, key, make):
        if key in self.items:
            self.items[key] = self.items.pop(key)  # most recent last
            return self.items[key]
        decoder = make()
        self.items[key] = decoder
        while (
            sum(d.nbytes() for d in self.items.values()) > self.limit
            and len(self.items) > 1
        ):
            self.items.pop(next(iter(self.items)))
        return decoder


_CACHE = _DecoderCache()


def grammar_decoder(
    grammar, tokenizer: CharTokenizer, allow_unk: bool | None = None,
    unk_penalty: float = UNK_PENALTY, max_distance: float = MAX_DISTANCE,
) -> GrammarDecoder:  # fmt: skip
    """A (cached) ``GrammarDecoder`` for a path, phrase list, JSON text or Grammar."""
    vocab, settings = tuple(tokenizer.vocab), (unk_penalty, allow_unk, max_distance)

    def make() -> GrammarDecoder:
        return GrammarDecoder(
            as_grammar(grammar), CharTokenizer(list(vocab)), *settings
        )

    text = isinstance(grammar, str) and grammar.lstrip().startswith(("[", "#JSGF"))
    if not (text or isinstance(grammar, (Grammar, list, tuple))):
        return make()  # a file may change between calls: read it each time
    key = (tuple(grammar) if isinstance(grammar, list) else grammar, vocab, *settings)
    return _CACHE.get(key, make)


# -- asr transcribe --grammar ----------------------------------------------------------


def add_grammar_arguments(parser) -> None:
    group = parser.add_argument_group("grammar (answer with a grammar's sentence)")
    group.add_argument(
        "--grammar", type=Path, default=None,
        help="phrase list, sentence templates or JSGF file (docs/grammars.md); prints "
        "'file<TAB>sentence<TAB>JSON with confidence, slots, intent' per file",
    )  # fmt: skip
    group.add_argument(
        "--unk", action=argparse.BooleanOptionalAction, default=None,
        help="allow the out-of-grammar answer [unk] (default: when the grammar has "
        "an [unk] line)",
    )  # fmt: skip
    group.add_argument(
        "--unk-penalty", type=options.finite_float, default=UNK_PENALTY,
        help="nats by which the free transcript must win for [unk]",
    )  # fmt: skip
    group.add_argument(
        "--unk-max-distance", type=options.non_negative_or_inf, default=MAX_DISTANCE,
        help="[unk] when the free transcript is farther from the sentence (character "
        "edits per sentence character)",
    )  # fmt: skip
