"""CTC beam search over a grammar's word graph spelled in the model's characters:
which sentences of the grammar, however many it says, best fit the posteriors.

The word graph (``asr.decoding.graph``) is spelled out once per vocabulary: every
word arc becomes a chain of character states, a space first (taken between two
words) and then its letters; after a word's last letter the search may enter any
word arc leaving the epsilon closure of the node it ends on. The search is a CTC
prefix beam search (Hannun et al. 2014) whose prefixes live in that automaton: each
hypothesis is a prefix and its state, with the log probabilities of ending in a
blank or in its last label; a repeated label needs a blank in between. Frames
where blank is near certain only extend what is there. Everything per frame is
numpy over the beam (no torch: the ONNX runtime uses it too); only merging the
few kept candidates is a Python loop. Written here because torchaudio's and
flashlight's decoders search a lexicon under a word LM, not a character automaton.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .graph import WordGraph

BEAM = 32  # hypotheses kept per frame
NBEST = 8  # distinct sentences returned for exact rescoring
BLANK_SKIP = math.log(0.995)  # frames whose blank log-prob is above: no new label
MAX_ENTRIES = 5_000_000  # epsilon-closure successors in all (bounds memory)
_NEG = -np.inf


class SearchError(ValueError):
    """The grammar's automaton would be too large to search."""


@dataclass(frozen=True)
class CharGraph:
    """The word graph spelled in a vocabulary. State s has ``label[s]``; its
    successors are ``succ[ptr[group[s]] : ptr[group[s] + 1]]``; ``final[s]``: may
    the sentence end after it. The start's successors are group ``start_group``."""

    label: np.ndarray  # (S,) label ids
    group: np.ndarray  # (S,) successor group of each state
    ptr: np.ndarray  # (G + 1,) CSR offsets
    succ: np.ndarray  # (E,) successor states
    final: np.ndarray  # (S,) bool
    start_group: int

    def nbytes(self) -> int:
        return sum(
            a.nbytes for a in (self.label, self.group, self.ptr, self.succ, self.final)
        )


def spell(graph: WordGraph, ids: dict[str, int], space: int) -> CharGraph:
    """Spell ``graph``'s words with label ``ids`` (every character must have one)."""
    word_arcs = [a for a, w in enumerate(graph.word) if w]
    base, labels = {}, []
    for arc in word_arcs:  # states: space, then the letters
        base[arc] = len(labels)
        labels.append(space)
        labels.extend(ids[c] for c in graph.word[arc])
    n_states = len(labels)
    closures: dict[int, tuple[list[int], bool]] = {}

    def entries(node: int) -> tuple[list[int], bool]:
        if node not in closures:
            reach = graph.epsilon_closure(node)
            arcs = [a for n in reach for a in graph.out[n] if graph.word[a]]
            closures[node] = ([base[a] for a in arcs], graph.final in reach)
        return closures[node]

    group = np.arange(n_states, dtype=np.int32)  # inside a word: its next state
    final = np.zeros(n_states, dtype=bool)
    lists: list[list[int]] = []  # groups after the n_states one-successor ones
    node_group: dict[int, int] = {}
    total = n_states
    for arc in word_arcs:
        last = base[arc] + len(graph.word[arc])
        node = graph.dst[arc]
        if node not in node_group:
            states, is_final = entries(node)
            total += len(states)
            if total > MAX_ENTRIES:
                raise SearchError(
                    f"the grammar's automaton passes {MAX_ENTRIES} transitions "
                    "(long chains of optional parts); simplify it"
                )
            node_group[node] = n_states + len(lists)
            lists.append(states)
        group[last] = node_group[node]
        final[last] = entries(node)[1]
    start_states = [s + 1 for s in entries(0)[0]]  # no space before the first word
    lists.append(start_states)
    sizes = np.array([len(x) for x in lists], dtype=np.int32)
    ptr = np.concatenate([np.arange(n_states + 1), n_states + np.cumsum(sizes)])
    listed = np.fromiter((s for x in lists for s in x), np.int32, int(sizes.sum()))
    succ = np.concatenate([np.arange(1, n_states + 1, dtype=np.int32), listed])
    ptr = ptr.astype(np.int32)  # MAX_ENTRIES keeps every index far below 2^31
    return CharGraph(
        np.asarray(labels, dtype=np.int32), group, ptr, succ, final,
        n_states + len(lists) - 1,
    )  # fmt: skip


def search(
    graph: CharGraph, log_probs: np.ndarray, beam: int = BEAM, nbest: int = NBEST
) -> list[tuple[list[int], float]]:
    """The best sentences of the automaton under CTC posteriors.

    Args:
        graph: the spelled grammar.
        log_probs: (T, V) log posteriors of one utterance, blank = 0.
        beam: hypotheses kept per frame; nbest: sentences returned.

    Returns:
        Up to ``nbest`` (label ids, approximate log-likelihood) pairs, best first,
        each ending where the grammar may end; empty when none does.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    parent, state_of, children = [-1], [-1], {}  # prefixes; 0 is the empty start
    hyp, states = np.array([0]), np.array([-1])  # prefix ids in the beam, states
    pb, pnb = np.array([0.0]), np.array([_NEG])
    for frame in log_probs:
        last = np.where(states >= 0, graph.label[np.maximum(states, 0)], -1)
        total = np.logaddexp(pb, pnb)
        stay_b = total + frame[0]
        stay_nb = np.where(last >= 0, pnb + frame[np.maximum(last, 0)], _NEG)
        if frame[0] >= BLANK_SKIP:  # blank all but certain: the same prefixes stay
            pb, pnb = stay_b, stay_nb
            continue
        owner, nxt, ext = _extend(graph, frame, states, last, pb, total)
        cand_state = np.concatenate([states, nxt])
        cand_b = np.concatenate([stay_b, np.full(len(nxt), _NEG)])
        cand_nb = np.concatenate([stay_nb, ext])
        cand_head = np.concatenate([hyp, hyp[owner]])
        keep, pb, pnb = _prune(cand_state, cand_b, cand_nb, beam)
        heads, targets = cand_head[keep].tolist(), cand_state[keep].tolist()
        new_hyp = []
        for i, head, target in zip(keep.tolist(), heads, targets, strict=True):
            if i < len(states):  # a prefix that stayed
                new_hyp.append(head)
                continue
            key = (head, target)  # a prefix one label longer
            if key not in children:
                children[key] = len(parent)
                parent.append(head)
                state_of.append(target)
            new_hyp.append(children[key])
        hyp, states = np.array(new_hyp), cand_state[keep]
    return _finals(graph, hyp, pb, pnb, parent, state_of, nbest)


def _extend(graph, frame, states, last, pb, total):
    """Every way to add one label: (owner hypothesis, next state, log p label)."""
    groups = np.where(
        states >= 0, graph.group[np.maximum(states, 0)], graph.start_group
    )
    starts, ends = graph.ptr[groups], graph.ptr[groups + 1]
    counts = ends - starts
    owner = np.repeat(np.arange(len(states)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    nxt = graph.succ[np.repeat(starts, counts) + offsets]
    labels = graph.label[nxt]
    from_blank_only = labels == last[owner]  # a repeat needs a blank between
    score = np.where(from_blank_only, pb[owner], total[owner]) + frame[labels]
    return owner, nxt, score


def _prune(state, b, nb, beam: int):
    """Merge candidates of the same automaton state and keep the ``beam`` best:
    (indices of the kept candidates, their summed log p blank and log p label).
    Prefixes in one state have the same futures, so only the likelier one is kept,
    with the probabilities of both summed (as the forward algorithm would): the
    beam then holds ``beam`` different places in the grammar, not ``beam``
    spellings of one place."""
    total = np.logaddexp(b, nb)
    order = np.lexsort((-total, state))  # by state, the likeliest first
    ordered = state[order]
    firsts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    merged_b = np.logaddexp.reduceat(b[order], firsts)
    merged_nb = np.logaddexp.reduceat(nb[order], firsts)
    top = np.argsort(-np.logaddexp(merged_b, merged_nb), kind="stable")[:beam]
    return order[firsts[top]], merged_b[top], merged_nb[top]


def _finals(graph, hyp, pb, pnb, parent, state_of, nbest):
    results, seen = [], set()
    for h, b, n in zip(hyp, pb, pnb, strict=True):
        state = state_of[h]
        if state < 0 or not graph.final[state]:
            continue
        labels, prefix = [], int(h)
        while prefix > 0:
            labels.append(int(graph.label[state_of[prefix]]))
            prefix = parent[prefix]
        labels.reverse()
        if tuple(labels) not in seen:
            seen.add(tuple(labels))
            results.append((labels, float(np.logaddexp(b, n))))
    results.sort(key=lambda r: -r[1])
    return results[:nbest]
