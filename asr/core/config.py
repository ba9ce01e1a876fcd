"""Command-line flags from config dataclasses: one ``--kebab-case`` flag per field,
its default from the class and its help from the field's trailing comment, so the
comment written next to each field is also what ``--help`` shows."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re

_FIELD = re.compile(r"^\s+(\w+):[^#]*#\s?(.*)$")  # "    name: type = default  # help"
_CONTINUATION = re.compile(r"^\s+#\s*(.*)$")  # "    #   more help" under a field


def field_help(cls) -> dict[str, str]:
    """Map each field of dataclass ``cls`` to its trailing comment (continuation
    comment lines are appended)."""
    helps: dict[str, str] = {}
    current = None
    for line in inspect.getsource(cls).splitlines():
        if match := _FIELD.match(line):
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and (match := _CONTINUATION.match(line)):
            helps[current] += " " + match.group(1).strip()
        else:
            current = None
    return helps


def add_config_flags(parser, cls, skip: set[str] = frozenset()) -> None:
    """Add one flag per field of ``cls`` (but those in ``skip``) to ``parser``."""
    helps = field_help(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name, "").replace("%", "%%")
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=text
            )
        elif isinstance(default, tuple):
            kind = type(default[0]) if default else int
            parser.add_argument(
                flag, type=kind, nargs="+", default=list(default), help=text
            )
        else:
            parser.add_argument(flag, type=type(default), default=default, help=text)


def config_values(args: argparse.Namespace, cls) -> dict:
    """The parsed values of ``cls``'s fields, lists turned back into tuples."""
    values = {f.name: vars(args)[f.name] for f in dataclasses.fields(cls)
              if f.name in vars(args)}  # fmt: skip
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
