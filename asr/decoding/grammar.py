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

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.text import normalize_text

MAX_SENTENCES = 10_000  # a grammar expanding to more is refused (decoding scores each)
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


@dataclass(frozen=True)
class Grammar:
    sentences: tuple[Sentence, ...]  # every sentence, without duplicates
    allow_unk: bool = False  # may the decoder answer UNK (out of grammar)?
    source: str = "<grammar>"  # file name or a description, for messages


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
            inner = self.alternatives()
            close = ")" if text == "(" else "]"
            if self.peek() != ("punct", close):
                raise self.where.error(f"{text!r} without a matching {close!r}")
            self.pos += 1
            return inner if text == "(" else ("opt", inner)
        raise self.where.error(f"unexpected {text!r}")


# -- expansion ------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    words: tuple[str, ...]  # spoken, normalised
    value: tuple[str, ...]  # what a slot around it stores
    slots: tuple[tuple[str, str], ...]


_EMPTY = _Piece((), (), ())


class _Expander:
    """Expands rule bodies to pieces, each rule once, refusing undefined or
    recursive rules and more than ``limit`` sentences."""

    def __init__(self, rules: dict, slot_lists: dict, limit: int):
        self.rules, self.slot_lists, self.limit = rules, slot_lists, limit
        self.done: dict[str, list[_Piece]] = {}
        self.active: list[str] = []

    def rule(self, name: str, where: _Where) -> list[_Piece]:
        if name in self.done:
            return self.done[name]
        if name in ("NULL", "VOID"):  # JSGF's special rules: nothing, no match
            return [_EMPTY] if name == "NULL" else []
        if name in self.active:
            cycle = " -> ".join(f"<{n}>" for n in [*self.active, name])
            raise where.error(f"recursive rule: {cycle}")
        if name not in self.rules:
            raise where.error(f"undefined rule <{name}>")
        node, rule_where = self.rules[name]
        self.active.append(name)
        self.done[name] = self.expand(node, rule_where)
        self.active.pop()
        return self.done[name]

    def expand(self, node, where: _Where) -> list[_Piece]:
        kind = node[0]
        if kind == "word":
            words = tuple(normalize_text(node[1]).split())
            if not words:
                raise where.error(f"word {node[1]!r} cannot be spelled (no letters)")
            return [_Piece(words, (node[2],), ())]
        if kind == "seq":
            pieces = [_EMPTY]
            for item in node[1]:
                pieces = self.product(pieces, self.expand(item, where), where)
            return pieces
        if kind == "alt":
            options = [p for o in node[1] for p in self.expand(o, where)]
            return self.bounded(options, where)
        if kind == "opt":
            return self.bounded([_EMPTY, *self.expand(node[1], where)], where)
        if kind == "ref":
            return self.rule(node[1], where)
        if kind == "slot":
            return self.slot(node[1], where)
        _, inner, name, value = node  # a tag: the slot holds the inner value
        return [
            replace(p, slots=(*p.slots, (name, value or " ".join(p.value))))
            for p in self.expand(inner, where)
        ]

    def slot(self, name: str, where: _Where) -> list[_Piece]:
        key = f"${name}"
        if key not in self.rules:
            if name not in self.slot_lists:
                raise where.error(f"undefined slot list ${name}")
            self.rules[key] = self.slot_lists[name]
        return [replace(p, slots=(*p.slots, (name, " ".join(p.value))))
                for p in self.rule(key, where)]  # fmt: skip

    def product(self, left, right, where: _Where) -> list[_Piece]:
        if len(left) * len(right) > self.limit:
            raise self.too_many(where)
        return [
            _Piece(a.words + b.words, a.value + b.value, a.slots + b.slots)
            for a in left
            for b in right
        ]

    def bounded(self, pieces: list[_Piece], where: _Where) -> list[_Piece]:
        if len(pieces) > self.limit:
            raise self.too_many(where)
        return pieces

    def too_many(self, where: _Where) -> GrammarError:
        return where.error(f"expands to more than {self.limit} sentences")


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


def _read_slot_lists(folder: Path | None, source: str) -> dict:
    """Rhasspy's slot lists: ``slots/<name>`` beside the grammar, one value
    (itself a template) a line."""
    lists = {}
    if folder is None or not (folder / "slots").is_dir():
        return lists
    for path in sorted((folder / "slots").iterdir()):
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            options = [
                _Parser(line.strip(), _Where(str(path), n)).parse()
                for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if options:
                lists[path.name] = (("alt", options), _Where(str(path), 1))
    return lists


def parse_grammar(
    text: str,
    source: str = "<grammar>",
    slots: dict[str, list[str]] | None = None,
    folder: Path | None = None,
    limit: int = MAX_SENTENCES,
) -> Grammar:
    """Expand a grammar (templates, a phrase list, a JSON list or JSGF) to sentences.

    Args:
        text: the grammar.
        source: its name in error messages (a file name).
        slots: slot lists for ``$name`` references: name -> values (templates).
        folder: where a ``slots/`` folder of lists may be (the grammar's folder).
        limit: most sentences allowed.

    Raises:
        GrammarError: empty, unreadable, undefined or recursive rules, unspellable
            words, more than ``limit`` sentences; the message names file and line.
    """
    stripped = text.lstrip()
    if stripped.startswith("#JSGF"):
        rules, templates, allow_unk = _jsgf_statements(text, source)
    else:
        lines = _json_phrases(stripped, source)
        lines = text.splitlines() if lines is None else lines
        rules, templates, allow_unk = _template_statements(lines, source)
    lists = _read_slot_lists(folder, source)
    for name, values in (slots or {}).items():
        where = _Where(f"slot list {name}", 1)
        lists[name] = (("alt", [_Parser(v, where).parse() for v in values]), where)
    expander = _Expander(rules, lists, limit)
    sentences, seen = [], set()
    for intent, node, where in templates:
        for piece in expander.expand(node, where):
            text = " ".join(piece.words)
            if text and text not in seen:
                seen.add(text)
                sentences.append(Sentence(text, piece.slots, intent, where.line))
            if len(sentences) > limit:
                raise where.error(f"the grammar expands to more than {limit} sentences")
    if not sentences:
        raise GrammarError(f"{source}:1: empty grammar: no sentence to recognise")
    return Grammar(tuple(sentences), allow_unk, source)


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GrammarError(f"{path}: cannot read the grammar ({error})") from None
    return parse_grammar(text, str(path), slots, path.parent)


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
    """The same sentences as a flat JSGF grammar (for PocketSphinx)."""
    body = " |\n    ".join(s.text for s in grammar.sentences)
    return f"#JSGF V1.0;\ngrammar {name};\npublic <sentence> =\n    {body};\n"
