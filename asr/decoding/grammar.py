"""Phrase lists and small grammars, expanded to the bounded list of sentences that
grammar-constrained decoding (``asr.decoding.match``) chooses from. Syntax:
docs/grammars.md.

* **Sentence templates** (Rhasspy's ``sentences.ini`` style; a phrase list, one
  sentence a line, and a Vosk-style JSON list are the simplest cases)::

      [SetLight]                                 # intent
      light = (kitchen | living room){name}     # a rule with a slot
      turn (on:1 | off:0){state} [the] <light> light
      play $genre music                          # slot list: slots/genre

* **JSGF** (a file starting with ``#JSGF``): ``public <rule> = ...;``, ``<rule>``,
  ``( a | b )``, ``[ optional ]``, ``/weight/`` (ignored), ``{tag}`` (a slot).

A line ``[unk]`` lets the decoder answer "out of grammar". Every problem is a
``GrammarError`` naming the file and line.
"""

from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.files import InputFileError, read_text
from ..core.text import normalize_text
from .graph import WordGraph

MAX_SENTENCES = 10_000  # most sentences listed (``Grammar.sentences``, exact scoring)
MAX_GRAMMAR_CHARS = 1_000_000  # grammar text and slot lists together
MAX_WORD_CHARS = 100  # letters in one word (a longer one is surely a mistake)
MAX_DEPTH = 100  # brackets and rule references nested in each other
ARCS_PER_CHAR = 4  # the word graph may have this many arcs per character of text,
MIN_ARCS = 20_000  # and at least this many: inlining rules cannot blow it up
UNK = "[unk]"  # the out-of-grammar outcome, spelled as Vosk spells it
_TOKEN = re.compile(
    r"\s*(?:(?P<ref><[^<>\s]+>)|(?P<slot>\$[\w.\-]+)|(?P<tag>\{[^{}]*\})"
    r"|(?P<weight>/[0-9.eE+\-]+/)|(?P<punct>[()\[\]|])|(?P<word>[^\s()\[\]|<>{}$]+))"
)
_RULE_LINE = re.compile(r"^\s*(?P<name>[\w.\-]+)\s*=(?P<body>.*)$")
_SECTION = re.compile(r"^\s*\[(?P<name>[^\[\]]+)\]\s*$")
_JSGF_RULE = re.compile(
    r"^\s*(?P<public>public\s+)?<(?P<name>[^<>\s]+)>\s*=(?P<body>.*)$", re.S
)


class GrammarError(ValueError):
    """A grammar that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Sentence:
    text: str  # normalised words, as the decoder spells them
    slots: tuple[tuple[str, str], ...] = ()  # (slot name, value) pairs, in order
    intent: str = ""  # the template section or public JSGF rule it comes from
    line: int = 0  # line of the grammar it comes from (for error messages)


@dataclass(frozen=True, eq=False)
class Grammar:
    graph: WordGraph  # the compiled grammar (``asr.decoding.graph``)
    allow_unk: bool = False  # may the decoder answer UNK (out of grammar)?
    source: str = "<grammar>"  # file name or a description, for messages

    @functools.cached_property
    def count(self) -> int:
        """Paths through the grammar: its sentences, a duplicate counted again."""
        return self.graph.path_counts()[0]

    @functools.cached_property
    def sentences(self) -> tuple[Sentence, ...]:
        """Every sentence, without duplicates, in the order of the text.

        Raises:
            GrammarError: more than ``MAX_SENTENCES`` (decoding never needs them).
        """
        if self.count > 4 * MAX_SENTENCES:  # duplicates may bring it under the limit
            raise self.too_many()
        sentences, seen = [], set()
        for path in self.graph.paths(4 * MAX_SENTENCES):
            if path.words and path.text not in seen:
                seen.add(path.text)
                sentences.append(
                    Sentence(path.text, path.slots, path.intent, path.line)
                )
        if len(sentences) > MAX_SENTENCES:
            raise self.too_many()
        return tuple(sentences)

    def too_many(self) -> GrammarError:
        return GrammarError(
            f"{self.source}: {self.count:.3g} sentences, more than {MAX_SENTENCES} to "
            "list (graph search decodes it; exact scoring and listing cannot)"
        )

    def sample(self, count: int, seed: int = 0) -> list[Sentence]:
        """``count`` sentences drawn uniformly over the grammar's paths."""
        rng, counts = random.Random(seed), self.graph.path_counts()
        paths = [self.graph.sample(rng, counts) for _ in range(count)]
        return [Sentence(p.text, p.slots, p.intent, p.line) for p in paths]

    def find(self, text: str) -> Sentence | None:
        """The sentence ``text`` with its slots and intent, or None if the grammar
        cannot say it."""
        path = self.graph.parse(text.split())
        return (
            None if path is None else Sentence(text, path.slots, path.intent, path.line)
        )


# -- tokens and expressions ----------------------------------------


@dataclass
class _Where:
    source: str
    line: int

    def error(self, message: str) -> GrammarError:
        return GrammarError(f"{self.source}:{self.line}: {message}")


def _tokens(body: str, where: _Where) -> list[tuple[str, str]]:
    tokens, pos, body = [], 0, body.rstrip()
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if not match or match.end() == pos:
            raise where.error(f"cannot read {body[pos:].strip()[:30]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over one expression: alternatives of sequences of items,
    each item an atom followed by tags. Nodes are tuples: ("seq", items),
    ("alt", options), ("opt", node), ("word", spoken, value), ("ref", name),
    ("slot", name), ("tag", node, name, value)."""

    def __init__(self, body: str, where: _Where):
        self.tokens, self.pos, self.where = _tokens(body, where), 0, where
        self.depth = 0

    def parse(self):
        node = self.alternatives()
        if self.pos < len(self.tokens):
            raise self.where.error(f"unexpected {self.tokens[self.pos][1]!r}")
        return node

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def alternatives(self):
        options = [self.sequence()]
        while self.peek() == ("punct", "|"):
            self.pos += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else ("alt", options)

    def sequence(self):
        items = []
        while (token := self.peek()) and token[1] not in "|)]":
            if token[0] == "weight":
                self.pos += 1
                continue
            items.append(self.item())
        return ("seq", items)

    def item(self):
        node = self.atom()
        while (token := self.peek()) and token[0] == "tag":
            self.pos += 1
            name, _, value = token[1][1:-1].strip().partition(":")
            if "=" in name and not value:
                name, _, value = name.partition("=")
            if not name.strip():
                raise self.where.error("empty {tag}")
            node = ("tag", node, name.strip(), value.strip() or None)
        return node

    def atom(self):
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "word":
            spoken, _, value = text.partition(":")
            return ("word", spoken, value or spoken)
        if kind == "ref":
            return ("ref", text[1:-1])
        if kind == "slot":
            return ("slot", text[1:])
        if text in "([":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.where.error(f"brackets nested deeper than {MAX_DEPTH}")
            inner = self.alternatives()
            self.depth -= 1
            close = ")" if text == "(" else "]"
            if self.peek() != ("punct", close):
                raise self.where.error(f"{text!r} without a matching {close!r}")
            self.pos += 1
            return inner if text == "(" else ("opt", inner)
        raise self.where.error(f"unexpected {text!r}")


# -- compiling to a word graph -----------------------------------------------------


class _Compiler:
    """Builds the word graph of rule bodies (``asr.decoding.graph``): a referenced
    rule is inlined where it is used; undefined or recursive rules, rules nested
    deeper than ``MAX_DEPTH`` and a graph past ``max_arcs`` arcs are refused, the
    arcs counted as they are made (so a blow-up stops at once)."""

    def __init__(self, rules: dict, slot_lists: dict, max_arcs: int):
        self.rules, self.slot_lists, self.max_arcs = rules, slot_lists, max_arcs
        self.graph = WordGraph()
        self.active: list[str] = []
        self.depth = 0

    def arc(self, where: _Where, *args, **kwargs) -> int:
        if len(self.graph.src) >= self.max_arcs:
            raise where.error(
                f"the grammar's graph passes {self.max_arcs} arcs (rules inlined "
                "too often); share fewer rules or split the grammar"
            )
        return self.graph.add_arc(*args, **kwargs)

    def rule(self, name: str, start: int, where: _Where) -> int:
        if name == "NULL":  # JSGF's special rules: nothing, no match
            return start
        if name == "VOID":
            return self.graph.add_node()  # a node that no path leaves
        if name in self.active:
            cycle = " -> ".join(f"<{n}>" for n in [*self.active, name])
            raise where.error(f"recursive rule: {cycle}")
        if name not in self.rules:
            raise where.error(f"undefined rule <{name}>")
        node, rule_where = self.rules[name]
        self.active.append(name)
        end = self.compile(node, start, rule_where)
        self.active.pop()
        return end

    def compile(self, node, start: int, where: _Where) -> int:
        """Add ``node``'s arcs leaving ``start``; returns the node they end on."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise where.error(f"rules and brackets nested deeper than {MAX_DEPTH}")
        try:
            return self._compile(node, start, where)
        finally:
            self.depth -= 1

    def _compile(self, node, start: int, where: _Where) -> int:
        kind, graph = node[0], self.graph
        if kind == "word":
            words = normalize_text(node[1]).split()
            if not words:
                raise where.error(f"word {node[1]!r} cannot be spelled (no letters)")
            for i, word in enumerate(words):
                if len(word) > MAX_WORD_CHARS:
                    raise where.error(
                        f"a word of {len(word)} letters; at most {MAX_WORD_CHARS}"
                    )
                end = graph.add_node()
                self.arc(where, start, end, word, node[2] if i == 0 else None)
                start = end
            return start
        if kind == "seq":
            for item in node[1]:
                start = self.compile(item, start, where)
            return start
        if kind == "alt":
            ends = [self.compile(option, start, where) for option in node[1]]
            end = graph.add_node()
            for option_end in ends:
                self.arc(where, option_end, end)
            return end
        if kind == "opt":  # the skip comes first: "absent" is the first sentence
            position = len(graph.out[start])
            inner = self.compile(node[1], start, where)
            end = graph.add_node()
            self.arc(where, inner, end)
            self.arc(where, start, end, position=position)
            return end
        if kind == "ref":
            return self.rule(node[1], start, where)
        if kind == "slot":
            return self.slot(node[1], start, where)
        _, inner, name, value = node  # a tag: the slot holds the inner value
        return self.tagged(
            name, value, start, where, lambda s: self.compile(inner, s, where)
        )

    def tagged(self, name, value, start: int, where: _Where, body) -> int:
        opened = self.graph.add_node()
        self.arc(where, start, opened, tag=("open", name))
        inner = body(opened)
        end = self.graph.add_node()
        self.arc(where, inner, end, tag=("close", name, value))
        return end

    def slot(self, name: str, start: int, where: _Where) -> int:
        key = f"${name}"
        if key not in self.rules:
            if name not in self.slot_lists:
                raise where.error(f"undefined slot list ${name}")
            self.rules[key] = self.slot_lists[name]
        return self.tagged(name, None, start, where, lambda s: self.rule(key, s, where))


# -- the two syntaxes --------------------------------------------------


def _template_statements(lines: list[str], source: str):
    """Rules, sentence templates (intent, node, where) and the [unk] flag of
    sentences.ini-style lines."""
    rules, templates, allow_unk, intent = {}, [], False, ""
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        where = _Where(source, number)
        if not line:
            continue
        if line.lower() == UNK:
            allow_unk = True
        elif section := _SECTION.match(line):
            intent = section["name"].strip()
        elif rule := _RULE_LINE.match(line):
            rules[rule["name"]] = (_Parser(rule["body"], where).parse(), where)
        else:
            templates.append((intent, _Parser(line, where).parse(), where))
    return rules, templates, allow_unk


def _jsgf_statements(text: str, source: str):
    """Rules and public rules (as templates) of a JSGF grammar."""
    blank_out = lambda m: "\n" * m.group().count("\n")  # noqa: E731 (keeps line numbers)
    text = re.sub(r"/\*.*?\*/", blank_out, text, flags=re.S)
    text = re.sub(r"(^|\s)//[^\n]*", r"\1", text)
    rules, templates, line = {}, [], 1
    for statement in text.split(";"):
        start = line + statement[: len(statement) - len(statement.lstrip())].count("\n")
        line += statement.count("\n")
        where, body = _Where(source, start), statement.strip()
        if not body or body.startswith(("#JSGF", "grammar ")):
            continue
        if body.startswith("import "):
            raise where.error("JSGF imports are not supported: use one file")
        rule = _JSGF_RULE.match(body)
        if not rule:
            raise where.error(f"not a JSGF rule: {body.splitlines()[0][:40]!r}")
        node = _Parser(" ".join(rule["body"].split()), where).parse()
        rules[rule["name"]] = (node, where)
        if rule["public"]:
            templates.append((rule["name"], ("ref", rule["name"]), where))
    if not templates:
        raise GrammarError(f"{source}: no public rule, so no sentence to recognise")
    return rules, templates, False


def _read_slot_lists(folder: Path | None) -> tuple[dict, int]:
    """Rhasspy's slot lists: ``slots/<name>`` beside the grammar, one value
    (itself a template) a line; and their total length in characters."""
    lists, chars = {}, 0
    if folder is None or not (folder / "slots").is_dir():
        return lists, chars
    for path in sorted((folder / "slots").iterdir()):
        if path.is_file():
            lines = _read_text(path, "slot list").splitlines()
            chars += sum(len(line) + 1 for line in lines)
            options = [
                _Parser(line.strip(), _Where(str(path), n)).parse()
                for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if options:
                lists[path.name] = (("alt", options), _Where(str(path), 1))
    return lists, chars


def _read_text(path: Path, what: str) -> str:
    """A grammar or slot list's text: a regular file (a FIFO or /dev/zero is refused
    before it is opened) of at most 4 bytes per allowed character."""
    try:  # a byte-order mark is dropped
        return read_text(path, what, MAX_GRAMMAR_CHARS * 4, encoding="utf-8-sig")
    except InputFileError as error:
        raise GrammarError(str(error)) from None
    except UnicodeDecodeError as error:
        raise GrammarError(f"{path}: cannot read the {what} ({error})") from None


def parse_grammar(
    text: str,
    source: str = "<grammar>",
    slots: dict[str, list[str]] | None = None,
    folder: Path | None = None,
) -> Grammar:
    """Compile a grammar (templates, a phrase list, a JSON list or JSGF) to a word
    graph; its sentences are never listed (``Grammar.sentences`` does, for small ones).

    Args:
        text: the grammar.
        source: its name in error messages (a file name).
        slots: slot lists for ``$name`` references: name -> values (templates).
        folder: where a ``slots/`` folder of lists may be (the grammar's folder).

    Raises:
        GrammarError: empty, too long, unreadable, undefined or recursive rules,
            too deep nesting, unspellable words; the message names file and line.
    """
    text = text.removeprefix("\ufeff")
    lists, chars = _read_slot_lists(folder)
    for name, values in (slots or {}).items():
        where = _Where(f"slot list {name}", 1)
        chars += sum(len(v) + 1 for v in values)
        lists[name] = (("alt", [_Parser(v, where).parse() for v in values]), where)
    chars += len(text)
    if chars > MAX_GRAMMAR_CHARS:
        raise GrammarError(
            f"{source}:1: a grammar of {chars} characters; at most {MAX_GRAMMAR_CHARS}"
        )
    stripped = text.lstrip()
    if stripped.startswith("#JSGF"):
        rules, templates, allow_unk = _jsgf_statements(text, source)
    else:
        lines = _json_phrases(stripped, source)
        lines = text.splitlines() if lines is None else lines
        rules, templates, allow_unk = _template_statements(lines, source)
    compiler = _Compiler(rules, lists, max(MIN_ARCS, ARCS_PER_CHAR * chars))
    graph = compiler.graph
    ends = []
    try:
        for intent, node, where in templates:
            begin = graph.add_node()
            compiler.arc(where, 0, begin, tag=("intent", intent, where.line))
            ends.append(compiler.compile(node, begin, where))
    except RecursionError:  # a safety net: MAX_DEPTH keeps well below Python's limit
        raise GrammarError(f"{source}: rules nested too deeply") from None
    graph.final = graph.add_node()
    for end in ends:
        graph.add_arc(end, graph.final)
    if not _says_something(graph):
        raise GrammarError(f"{source}:1: empty grammar: no sentence to recognise")
    return Grammar(graph, allow_unk, source)


def _says_something(graph: WordGraph) -> bool:
    """Does some path from start to end hold a word?"""
    reaches_end = [False] * graph.n_nodes
    reaches_end[graph.final] = True
    for node in range(graph.n_nodes - 1, -1, -1):
        reaches_end[node] = reaches_end[node] or any(
            reaches_end[graph.dst[a]] for a in graph.out[node]
        )
    reached = [False] * graph.n_nodes
    reached[0] = True
    for node in range(graph.n_nodes):
        if reached[node]:
            for arc in graph.out[node]:
                reached[graph.dst[arc]] = True
                if graph.word[arc] and reaches_end[graph.dst[arc]]:
                    return True
    return False


def _json_phrases(text: str, source: str) -> list[str] | None:
    """The entries of a Vosk-style JSON list of phrases, else None."""
    if not text.startswith("["):
        return None
    try:
        phrases = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise GrammarError(f"{source}:1: a JSON grammar must be a list of strings")
    return phrases


def load_grammar(path: str | Path, slots: dict | None = None) -> Grammar:
    """Read and expand a grammar file (see ``parse_grammar``); slot lists may also
    come from a ``slots/`` folder beside it."""
    path = Path(path)
    return parse_grammar(_read_text(path, "grammar"), str(path), slots, path.parent)


def as_grammar(grammar) -> Grammar:
    """A ``Grammar`` from a ``Grammar``, a file path, a list of phrases, or a
    Vosk-style JSON string such as ``'["turn on the light", "[unk]"]'``."""
    if isinstance(grammar, Grammar):
        return grammar
    if isinstance(grammar, (list, tuple)):
        return parse_grammar("\n".join(grammar), "<phrase list>")
    if isinstance(grammar, str) and grammar.lstrip().startswith(("[", "#JSGF")):
        return parse_grammar(grammar, "<grammar text>")
    if isinstance(grammar, (str, Path)):
        return load_grammar(grammar)
    raise TypeError(f"a grammar is a path, phrases or a Grammar, not {grammar!r}")


def to_jsgf(grammar: Grammar, name: str = "commands") -> str:
    """The grammar as JSGF (for PocketSphinx): its sentences as one list, or for a
    grammar too large to list, each node of the word graph a rule."""
    try:
        body = " |\n    ".join(s.text for s in grammar.sentences)
        return f"#JSGF V1.0;\ngrammar {name};\npublic <sentence> =\n    {body};\n"
    except GrammarError:  # too many to list
        pass
    graph, rules = grammar.graph, []
    for node in range(graph.n_nodes):
        if node == graph.final:
            continue
        options = []
        for arc in graph.out[node]:
            target = "" if graph.dst[arc] == graph.final else f"<n{graph.dst[arc]}>"
            options.append(
                " ".join(filter(None, [graph.word[arc], target])) or "<NULL>"
            )
        rules.append(f"<n{node}> = {' | '.join(options) or '<VOID>'};")
    head = f"#JSGF V1.0;\ngrammar {name};\npublic <sentence> = <n0>;\n"
    return head + "\n".join(rules) + "\n"


def to_fsg(grammar: Grammar, name: str = "commands") -> str:
    """The word graph in Sphinx's FSG format (PocketSphinx's ``fsg=``): one
    transition per arc, epsilon arcs as null transitions, each node's arcs equally
    likely. PocketSphinx's JSGF reader inlines every rule reference, so a large
    grammar reaches it only this way."""
    graph = grammar.graph
    lines = [f"FSG_BEGIN {name}", f"NUM_STATES {graph.n_nodes}", "START_STATE 0",
             f"FINAL_STATE {graph.final}"]  # fmt: skip
    for node in range(graph.n_nodes):
        arcs = graph.out[node]
        for arc in arcs:
            word = f" {graph.word[arc]}" if graph.word[arc] else ""
            lines.append(
                f"TRANSITION {node} {graph.dst[arc]} {1 / len(arcs):.6f}{word}"
            )
    return "\n".join([*lines, "FSG_END"]) + "\n"
