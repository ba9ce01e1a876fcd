"""Decoding constrained to a grammar: which of a grammar's sentences was said, or
none of them.

The grammar is searched, never listed: a CTC beam search over its word graph
spelled in the model's characters (``asr.decoding.graphsearch``) proposes the
``NBEST`` best sentences, and each is then scored exactly, its log-likelihood
log P(sentence | audio) summed over all alignments by the CTC forward algorithm
(``torch.nn.functional.ctc_loss``). For small grammars ``search="exact"`` scores
every sentence instead (a check of the search). The out-of-grammar alternative is
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
from typing import TYPE_CHECKING

from ..core import options
from ..core.text import BLANK, CharTokenizer
from .grammar import UNK, Grammar, GrammarError, as_grammar
from .graphsearch import BEAM, NBEST, SearchError, search, spell
from .greedy import greedy_decode

if TYPE_CHECKING:  # torch loads on first use: asr transcribe without a grammar,
    import torch  # and the ONNX runtime, never need it

# Nats by which the greedy transcript must out-score the best sentence for the
# audio to be called out of grammar, and the largest distance of that transcript
# from the sentence. Chosen for data/models/default.pt on training and dev data only
# (wakeword and FSDD training clips against LibriSpeech dev and Kathleen sentences:
# every penalty from 7.5 to 37.5 nats makes no error there, without a distance limit;
# this is the middle of that range) by recipes/commands/tune_unk.py; see
# docs/grammars.md. Never tuned on a test set.
UNK_PENALTY = 22.5
# Nats added to the penalty per character of the best sentence: long sentences
# (recipes/commands/coffee) lose more to a weak acoustic model than short commands.
# Chosen by recipes/commands/large_grammar.py on the fit voices' synthetic clips.
UNK_PER_CHAR = 1.0
MAX_DISTANCE = float("inf")  # edits per sentence character; inf: no limit
MAX_CELLS = 4_000_000  # CTC lattice cells per ctc_loss call: bounds memory (~100 MB)
# The scores are divided by a temperature before the softmax that gives the
# confidence: this many nats per character of the best sentence (score gaps grow
# with length), at least 1. The value with the least log loss on the fit voices'
# synthetic coffee orders (recipes/commands/large_grammar.py; docs/grammars.md).
TEMPERATURE_PER_CHAR = 0.31
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
            import torch

            targets = [self._ids(s.text) for s in grammar.sentences]
            self.target_lens = torch.tensor([len(t) for t in targets])
            self.targets = torch.tensor([i for t in targets for i in t])

    def nbytes(self) -> int:
        """Memory held by the compiled grammar, in bytes (roughly)."""
        exact = self.targets.nbytes if self.mode == "exact" else 0
        return self.grammar.graph.nbytes() + self.chars.nbytes() + exact

    def _ids(self, text: str) -> list[int]:
        return [self.tokenizer.ids[c] for c in text]

    def __call__(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[Match]:
        """One ``Match`` per utterance of a (B, T, V) batch with (B,) lengths."""
        import torch

        log_probs = torch.as_tensor(log_probs)  # numpy posteriors from ONNX Runtime
        heard = greedy_decode(log_probs, out_lens, self.tokenizer)
        return [
            self.match(log_probs[b, : int(out_lens[b])].float().cpu(), heard[b])
            for b in range(len(heard))
        ]

    def nothing_voiced(self) -> Match:
        """The answer for audio without speech (``asr.audio.vad.has_speech``):
        out of grammar, whether or not the grammar allows [unk], and certain."""
        return Match(UNK, 1.0, {}, "", "", "", -math.inf, math.inf)

    def candidates(self, emissions: torch.Tensor) -> tuple[list[str], torch.Tensor]:
        """Sentences worth scoring and their exact log-likelihoods."""
        import torch

        if self.mode == "exact":
            texts = [s.text for s in self.grammar.sentences]
            return texts, sentence_scores(emissions, self.targets, self.target_lens)
        found = search(self.chars, emissions.numpy(), self.beam, NBEST)
        if not found:  # the beam lost every complete sentence: search wider once
            found = search(self.chars, emissions.numpy(), 4 * self.beam, NBEST)
        texts = ["".join(self.tokenizer.vocab[i] for i in ids) for ids, _ in found]
        if not texts:
            return [], torch.empty(0)
        ids = [self._ids(t) for t in texts]
        lens = torch.tensor([len(i) for i in ids])
        return texts, sentence_scores(emissions, torch.tensor(sum(ids, [])), lens)

    def match(self, emissions: torch.Tensor, heard: str) -> Match:
        """The answer for one utterance's (T, V) log posteriors and greedy text."""
        import torch
        from torchaudio.functional import edit_distance

        texts, scores = self.candidates(emissions)
        free = sentence_scores(emissions, *_one(self._ids(heard)))[0]
        if not texts or not torch.isfinite(scores.max()):  # no sentence fits at all
            return Match(UNK, 1.0, {}, "", "", heard, -math.inf, math.inf)
        best = int(scores.argmax())
        text = texts[best]
        everything = scores
        if self.allow_unk:  # a longer sentence has more letters to get wrong
            penalty = self.unk_penalty + UNK_PER_CHAR * len(text)
            everything = torch.cat([scores, (free - penalty).reshape(1)])
        temperature = max(1.0, TEMPERATURE_PER_CHAR * len(text))
        posterior = torch.softmax(everything.double() / temperature, 0)
        margin = float(scores[best] - free)
        distance = edit_distance(heard, text) / len(text)
        far = distance > self.max_distance
        silent = not heard.strip()  # the model heard nothing: not a command
        if self.allow_unk and (far or silent or bool(everything[-1] > scores[best])):
            if far or silent:  # rejected on other grounds: posterior without penalty
                everything = torch.cat([scores, free.reshape(1)])
            unk = float(torch.softmax(everything.double() / temperature, 0)[-1])
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


def _one(ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    return torch.tensor([ids or [BLANK]], dtype=torch.long), torch.tensor([len(ids)])


def sentence_scores(
    emissions: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor
) -> torch.Tensor:
    """log P(target | audio) under CTC for each of N targets.

    Args:
        emissions: (T, V) log posteriors of one utterance.
        targets: (N, L) label ids, padded, or (sum of lengths,) one after another;
            target_lens: (N,) their lengths.

    Returns:
        (N,) log-likelihoods in nats; -inf for a target too long for T frames.
    """
    import torch

    frames = emissions.shape[0]
    if targets.dim() == 2:
        targets = torch.cat([t[:n] for t, n in zip(targets, target_lens, strict=True)])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), target_lens.cumsum(0)])
    scores, start = [], 0
    while start < len(target_lens):  # chunks of at most MAX_CELLS lattice cells
        width, stop = int(target_lens[start]), start + 1
        while stop < len(target_lens):
            wider = max(width, int(target_lens[stop]))
            if (stop + 1 - start) * frames * (2 * wider + 1) > MAX_CELLS:
                break
            width, stop = wider, stop + 1
        lens = target_lens[start:stop]
        chunk = targets[offsets[start] : offsets[stop]]
        n = stop - start
        loss = torch.nn.functional.ctc_loss(
            emissions[:, None, :].expand(frames, n, emissions.shape[1]),
            chunk, torch.full((n,), frames, dtype=torch.long), lens,
            blank=BLANK, reduction="none", zero_infinity=False,
        )  # fmt: skip
        scores.append(-loss)
        start = stop
    return torch.cat(scores)


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
