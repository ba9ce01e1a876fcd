"""A grammar compiled to a word graph: nodes joined by arcs that carry one word or
nothing (epsilon), and on epsilon arcs the slot and intent tags. Its size grows with
the grammar's text, not with the number of sentences it stands for (10^9 sentences
fit in a few thousand arcs), so nothing ever lists them unless asked to.

Node 0 is the start and ``final`` the end; every arc goes from a lower node id to a
higher one (the graph is a DAG in topological order), which makes counting paths,
sampling them uniformly and finding the first path that spells given words
single passes. Hand-written because the libraries that do this (OpenFst, k2) are
C++ builds far heavier than the few hundred lines needed here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Tags on epsilon arcs: ("open", slot) and ("close", slot, value or None: the words
# said inside) delimit a slot; ("intent", name, line) starts a sentence template.
Tag = tuple


@dataclass(frozen=True)
class Path:
    words: tuple[str, ...]  # spoken words
    slots: tuple[tuple[str, str], ...]  # (slot, value) pairs, in closing order
    intent: str
    line: int  # grammar line of the template

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(eq=False)
class WordGraph:
    """Arcs as parallel lists (``src``, ``dst``, ``word``: "" for epsilon, ``value``:
    what a slot around the word stores, ``tag``), ``out[node]``: arc ids in grammar
    order, so that the first path in arc order is the first sentence of the text."""

    src: list[int] = field(default_factory=list)
    dst: list[int] = field(default_factory=list)
    word: list[str] = field(default_factory=list)
    value: list[str | None] = field(default_factory=list)
    tag: list[Tag | None] = field(default_factory=list)
    out: list[list[int]] = field(default_factory=lambda: [[]])
    final: int = -1

    @property
    def n_nodes(self) -> int:
        return len(self.out)

    def add_node(self) -> int:
        self.out.append([])
        return len(self.out) - 1

    def add_arc(self, src, dst, word="", value=None, tag=None, position=None) -> int:
        arc = len(self.src)
        self.src.append(src)
        self.dst.append(dst)
        self.word.append(word)
        self.value.append(value)
        self.tag.append(tag)
        outs = self.out[src]
        outs.insert(len(outs) if position is None else position, arc)
        return arc

    def nbytes(self) -> int:
        """Rough memory held, in bytes (8 per list slot and per node list)."""
        return 8 * (5 * len(self.src) + 2 * len(self.out)) + 56 * len(self.out)

    # -- counting, listing, sampling ------------------------------------------------

    def path_counts(self) -> list[int]:
        """Paths from each node to the end (exact integers)."""
        counts = [0] * self.n_nodes
        counts[self.final] = 1
        for node in range(self.n_nodes - 1, -1, -1):
            if node != self.final:
                counts[node] = sum(counts[self.dst[a]] for a in self.out[node])
        return counts

    def paths(self, limit: int):
        """Yield paths in grammar order; stops after ``limit`` + 1 (the caller tells
        "more than limit"). Iterative, so no depth limit applies."""
        stack, made = [(0, 0, ())], 0  # (node, next arc index, arcs so far)
        while stack:
            node, index, arcs = stack.pop()
            if node == self.final:
                yield self.describe(arcs)
                made += 1
                if made > limit:
                    return
                continue
            outs = self.out[node]
            if index < len(outs):
                stack.append((node, index + 1, arcs))
                arc = outs[index]
                stack.append((self.dst[arc], 0, (*arcs, arc)))

    def sample(self, rng: random.Random, counts: list[int] | None = None) -> Path:
        """One path drawn uniformly among all paths (``counts``: ``path_counts()``)."""
        counts = counts or self.path_counts()
        node, arcs = 0, []
        while node != self.final:
            pick = rng.randrange(counts[node])
            for arc in self.out[node]:
                pick -= counts[self.dst[arc]]
                if pick < 0:
                    break
            arcs.append(arc)
            node = self.dst[arc]
        return self.describe(arcs)

    def describe(self, arcs) -> Path:
        """Words, slots and intent along a path of arc ids."""
        words, values, slots, opened, intent, line = [], [], [], [], "", 0
        for arc in arcs:
            if self.word[arc]:
                words.append(self.word[arc])
                if self.value[arc] is not None:
                    values.append(self.value[arc])
            tag = self.tag[arc]
            if tag is None:
                continue
            if tag[0] == "intent":
                intent, line = tag[1], tag[2]
            elif tag[0] == "open":
                opened.append(len(values))
            elif tag[0] == "close":
                start = opened.pop()
                slots.append((tag[1], tag[2] or " ".join(values[start:])))
        return Path(tuple(words), tuple(slots), intent, line)

    # -- finding a sentence ----------------------------------------------------------

    def parse(self, words: list[str] | tuple[str, ...]) -> Path | None:
        """The first path (in grammar order) that says exactly ``words``, or None.
        Depth-first over (node, words consumed) with failed pairs remembered:
        at most nodes x (words + 1) steps."""
        words, failed = tuple(words), set()
        stack = [(0, 0, 0)]  # (node, words consumed, next arc index)
        arcs: list[int] = []
        while stack:
            node, done, index = stack[-1]
            if node == self.final and done == len(words):
                return self.describe(arcs)
            outs = self.out[node]
            advanced = False
            while index < len(outs):
                arc = outs[index]
                index += 1
                word = self.word[arc]
                step = done + 1 if word else done
                if word and (done >= len(words) or words[done] != word):
                    continue
                if (self.dst[arc], step) in failed:
                    continue
                stack[-1] = (node, done, index)
                stack.append((self.dst[arc], step, 0))
                arcs.append(arc)
                advanced = True
                break
            if not advanced:
                failed.add((node, done))
                stack.pop()
                if arcs:
                    arcs.pop()
        return None

    def words(self) -> list[str]:
        """Every distinct word, in order of first appearance."""
        return list(dict.fromkeys(w for w in self.word if w))

    def epsilon_closure(self, node: int) -> list[int]:
        """Nodes reachable from ``node`` by epsilon arcs (itself first)."""
        seen, stack, order = {node}, [node], []
        while stack:
            current = stack.pop()
            order.append(current)
            for arc in reversed(self.out[current]):
                target = self.dst[arc]
                if not self.word[arc] and target not in seen:
                    seen.add(target)
                    stack.append(target)
        return order
