"""Decoding constrained to a grammar: which of a grammar's sentences was said, or
none of them.

Every sentence is scored exactly against the CTC posteriors: its log-likelihood
log P(sentence | audio), summed over all alignments by the CTC forward algorithm
(``torch.nn.functional.ctc_loss``, batched). The out-of-grammar alternative is
the unconstrained best guess, the greedy transcript, scored the same way and
lowered by ``unk_penalty`` nats, so that in-grammar speech, whose greedy
transcript is a near miss of a sentence, still matches that sentence while other
speech, whose transcript is far from every sentence, does not. A model that hears
little in unfamiliar speech gives every sentence nearly the likelihood of its
garbled transcript, so the answer is also "[unk]" when that transcript is more
than ``max_distance`` character edits per sentence character away. The confidence is
the softmax of these scores: the posterior of the answer among all sentences and
the out-of-grammar alternative.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.text import BLANK, CharTokenizer
from .grammar import UNK, Grammar, GrammarError, as_grammar
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
MAX_DISTANCE = float("inf")  # edits per sentence character; inf: no limit
MAX_CELLS = 4_000_000  # CTC lattice cells per ctc_loss call: bounds memory (~100 MB)


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

    @property
    def is_unk(self) -> bool:
        return self.text == UNK

    def to_json(self) -> str:
        return json.dumps(
            {"text": self.text, "confidence": round(self.confidence, 4),
             "slots": self.slots, "intent": self.intent, "sentence": self.sentence,
             "heard": self.heard, "margin": round(self.margin, 2),
             "distance": round(self.distance, 3)},
            ensure_ascii=False,
        )  # fmt: skip


class GrammarDecoder:
    """Chooses among a grammar's sentences for a batch of CTC posteriors.

    Args:
        grammar: the expanded grammar.
        tokenizer: the acoustic model's tokenizer (every sentence must be spelled).
        unk_penalty: nats the free transcript must win by to be out of grammar.
        max_distance: farthest the free transcript may be from the sentence
            (edits per sentence character) for the sentence to be accepted.
        allow_unk: may the answer be "[unk]"? None follows ``grammar.allow_unk``.

    Raises:
        GrammarError: a sentence holds a character the model cannot output.
    """

    def __init__(
        self,
        grammar: Grammar,
        tokenizer: CharTokenizer,
        unk_penalty: float = UNK_PENALTY,
        allow_unk: bool | None = None,
        max_distance: float = MAX_DISTANCE,
    ):
        check_spelling(grammar, tokenizer.vocab)
        self.grammar, self.tokenizer, self.unk_penalty = grammar, tokenizer, unk_penalty
        self.allow_unk = grammar.allow_unk if allow_unk is None else allow_unk
        self.max_distance = max_distance
        import torch

        targets = [self._ids(s.text) for s in grammar.sentences]
        self.target_lens = torch.tensor([len(t) for t in targets])
        width = int(self.target_lens.max())
        self.targets = torch.zeros(len(targets), width, dtype=torch.long)
        for i, t in enumerate(targets):
            self.targets[i, : len(t)] = torch.tensor(t)

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

    def match(self, emissions: torch.Tensor, heard: str) -> Match:
        """The answer for one utterance's (T, V) log posteriors and greedy text."""
        import torch
        from torchaudio.functional import edit_distance

        scores = sentence_scores(emissions, self.targets, self.target_lens)
        free = sentence_scores(emissions, *_one(self._ids(heard)))[0]
        everything = torch.cat([scores, (free - self.unk_penalty).reshape(1)])
        posterior = torch.softmax(everything, 0)
        best = int(scores.argmax())
        sentence = self.grammar.sentences[best]
        margin = float(scores[best] - free)
        distance = edit_distance(heard, sentence.text) / len(sentence.text)
        far = distance > self.max_distance
        unk_wins = self.allow_unk and (far or bool(everything[-1] > scores[best]))
        if unk_wins or not torch.isfinite(scores[best]):  # or no sentence fits at all
            unk = float(posterior[-1])
            return Match(UNK, unk, {}, "", sentence.text, heard, margin, distance)
        return Match(
            sentence.text, float(posterior[best]), dict(sentence.slots),
            sentence.intent, sentence.text, heard, margin, distance,
        )  # fmt: skip


def check_spelling(grammar: Grammar, vocab: list[str]) -> None:
    """Refuse a sentence with a character the acoustic model cannot output."""
    alphabet = set(vocab)
    for sentence in grammar.sentences:
        missing = sorted(set(sentence.text) - alphabet)
        if missing:
            raise GrammarError(
                f"{grammar.source}:{sentence.line}: the model cannot spell "
                f"{''.join(missing)!r} in {sentence.text!r}"
            )


def _one(ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    return torch.tensor([ids or [BLANK]], dtype=torch.long), torch.tensor([len(ids)])


def sentence_scores(
    emissions: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor
) -> torch.Tensor:
    """log P(target | audio) under CTC for each of N targets.

    Args:
        emissions: (T, V) log posteriors of one utterance.
        targets: (N, L) label ids, padded; target_lens: (N,) their lengths.

    Returns:
        (N,) log-likelihoods in nats; -inf for a target too long for T frames.
    """
    import torch

    frames = emissions.shape[0]
    step = max(1, MAX_CELLS // (frames * (2 * targets.shape[1] + 1)))
    scores = []
    for start in range(0, len(targets), step):
        chunk, lens = targets[start : start + step], target_lens[start : start + step]
        n = len(chunk)
        loss = torch.nn.functional.ctc_loss(
            emissions[:, None, :].expand(frames, n, emissions.shape[1]),
            chunk, torch.full((n,), frames, dtype=torch.long), lens,
            blank=BLANK, reduction="none", zero_infinity=False,
        )  # fmt: skip
        scores.append(-loss)
    return torch.cat(scores)


@functools.lru_cache(maxsize=8)
def _cached_decoder(grammar: Grammar, vocab: tuple[str, ...], *settings):
    return GrammarDecoder(grammar, CharTokenizer(list(vocab)), *settings)


def grammar_decoder(
    grammar, tokenizer: CharTokenizer, allow_unk: bool | None = None,
    unk_penalty: float = UNK_PENALTY, max_distance: float = MAX_DISTANCE,
) -> GrammarDecoder:  # fmt: skip
    """A (cached) ``GrammarDecoder`` for a path, phrase list, JSON text or Grammar."""
    vocab = tuple(tokenizer.vocab)
    settings = (unk_penalty, allow_unk, max_distance)
    return _cached_decoder(as_grammar(grammar), vocab, *settings)


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
        "--unk-penalty", type=float, default=UNK_PENALTY,
        help="nats by which the free transcript must win for [unk]",
    )  # fmt: skip
    group.add_argument(
        "--unk-max-distance", type=float, default=MAX_DISTANCE,
        help="[unk] when the free transcript is farther from the sentence (character "
        "edits per sentence character)",
    )  # fmt: skip
