"""Checks a `tpdask` command line against the commands' signatures before anything runs.

python-fire stays the dispatcher, but it matches flags only while it calls, so a mistyped
flag would be reported after the command had run (``archive --date D`` would archive
yesterday). Here every argument is checked first: the command must exist, every flag
must be one of the command's parameters or a global setting, typed flags must parse,
required values must be there. What passes is handed to fire in one unambiguous form
(``--name=value``), which fire turns into Python literals exactly as before.

The grammar: ``--name value``, ``--name=value`` (``-`` in a name reads as ``_``), a
boolean flag alone (``--local``), as ``--nolocal``, or with a value (``--local=false``);
a command's required parameters may also come as positional arguments, in order;
options may come before or after the command; ``-h`` or ``--help`` anywhere asks for help.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from tpdask.errors import UsageError

HELP_FLAGS = ("-h", "--help")
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


@dataclass(frozen=True)
class Flag:
    """One option: its name, the type its value must have (bool, int, float or str)."""

    name: str
    kind: type
    default: Any = None
    required: bool = False

    @property
    def metavar(self) -> str:
        return {int: "INT", float: "NUMBER", bool: ""}.get(self.kind, self.name.upper())

    def usage(self) -> str:
        text = f"--{self.name}" + (f" {self.metavar}" if self.metavar else "")
        return text if self.required else f"[{text}]"


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    doc: str
    flags: dict[str, Flag]
    #: optional parameters that may also come as positional words, after the required ones
    positional: tuple[str, ...] = ()

    def usage(self) -> str:
        words = [f.name.upper() if f.required else f"[{f.name.upper()}]"
                 if f.name in self.positional else f.usage() for f in self.flags.values()]
        return " ".join(["tpdask", self.name, *words])


@dataclass(frozen=True)
class Parsed:
    """What the command line asks for: a command to run (as argv for fire) or its help."""

    command: str | None
    help: bool = False
    fire_argv: tuple[str, ...] = ()


def kind_of(hint: Any) -> type:
    """bool, int or float when a parameter's type hint allows only that (and None); else str."""
    options = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    options.discard(type(None))
    return options.pop() if len(options) == 1 and options <= {bool, int, float} else str


def command_spec(name: str, summary: str, method: Callable,
                 positional: tuple[str, ...] = ()) -> Command:
    """The flags of a command, read from its method's signature and type hints."""
    hints = typing.get_type_hints(method)
    flags = {}
    for p in inspect.signature(method).parameters.values():
        if p.name == "self":
            continue
        required = p.default is inspect.Parameter.empty
        flags[p.name] = Flag(p.name, kind_of(hints.get(p.name, str)),
                             None if required else p.default, required)
    return Command(name, summary, inspect.getdoc(method) or "", flags, positional)


def is_flag(token: str) -> bool:
    """Whether fire would read this token as a flag (`-5` and `-` are values, not flags)."""
    return token.startswith("--") or re.match(r"^-[a-zA-Z]", token) is not None


#: words people write for one of our options that no spelling rule finds: a synonym is not a
#: typo (difflib rates date/day 0.57, below its 0.6 cutoff, and dask/day the same, so no
#: cutoff tells them apart); suggested only when the command has that option
SYNONYMS = {"date": "day", "from": "since", "start": "since", "to": "until", "end": "until"}
#: difflib's default, 0.6, also rates force/store, token/store and int/clients 0.6: nonsense
TYPO_CUTOFF = 0.65


def suggest(word: str, names: list[str]) -> str:
    """' (did you mean --x?)' for the option the word most likely meant, or ''.

    In order: a known synonym (``date`` for ``day``); for a single letter, the one name it
    starts; a typo, the name difflib rates closest at TYPO_CUTOFF or more; a word of
    exactly one name (``gap`` for ``max_gap``).
    """
    if SYNONYMS.get(word) in names:
        return f" (did you mean --{SYNONYMS[word]}?)"
    if len(word) == 1:
        close = [n for n in names if n.startswith(word)]
    else:
        close = (difflib.get_close_matches(word, names, n=1, cutoff=TYPO_CUTOFF)
                 or [n for n in names if word in n.split("_")])
    return f" (did you mean --{close[0]}?)" if len(close) == 1 else ""


def check_value(flag: Flag, raw: str | None) -> str:
    """The value of a flag as fire should receive it; raises UsageError when it does not fit."""
    name = f"--{flag.name}"
    if flag.kind is bool:
        word = "true" if raw is None else raw.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return "True" if word in TRUE_WORDS else "False"
        raise UsageError(f"{name} is a switch: give it alone, or as {name}=true / {name}=false, "
                         f"got {raw!r}")
    if raw is None or raw == "":
        raise UsageError(f"{name} needs a value: {name} {flag.metavar or 'VALUE'}")
    if flag.kind is int:
        try:
            return str(int(raw))
        except ValueError:
            raise UsageError(f"{name} must be a whole number, got {raw!r}") from None
    if flag.kind is float:
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise UsageError(f"{name} must be a number, got {raw!r}")
        return repr(number)
    return raw


def _lex(argv: list[str], bools: set[str], known: set[str],
         commands: set[str]) -> tuple[list, list[str]]:
    """Split argv into flags [(token, key, raw value or None)] and positional words.

    A switch (a bool flag) takes the next word only when it is true/false; any other flag
    takes the next word unless it is a flag, or, for a flag nobody knows, a command name
    (so that `--verbose status` is reported as an unknown option of status).
    """
    flags, words = [], []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not is_flag(token):
            words.append(token)
            continue
        if token == "--":
            raise UsageError("unexpected argument '--': tpdask takes no fire flags")
        key, eq, raw = token.lstrip("-").partition("=")
        key = key.replace("-", "_")
        value: str | None = raw if eq else None
        switch = key in bools or (key.startswith("no") and key[2:] in bools)
        if not eq and i < len(argv) and not is_flag(argv[i]):
            nxt = argv[i]
            if switch:
                take = nxt.lower() in TRUE_WORDS + FALSE_WORDS
            else:
                take = key in known or nxt not in commands
            if take:
                value = nxt
                i += 1
        flags.append((token, key, value))
    return flags, words


def _valid_list(command: Command, globals_: dict[str, Flag]) -> str:
    own = ", ".join(f"--{n}" for n in command.flags) or "none"
    return (f"valid options of `tpdask {command.name}`: {own}; global options: "
            + ", ".join(f"--{n}" for n in globals_))


def _resolve_flag(token: str, key: str, command: Command,
                  globals_: dict[str, Flag]) -> tuple[Flag, bool]:
    """The Flag a token names, and whether it is the --no<flag> form."""
    known = {**globals_, **command.flags}
    if token.startswith("--"):
        if key in known:
            return known[key], False
        if key.startswith("no") and key[2:] in known and known[key[2:]].kind is bool:
            return known[key[2:]], True
    raise UsageError(f"unknown option {token.partition('=')[0]} for `tpdask {command.name}`"
                     f"{option_hint(key, command, globals_)}; {_valid_list(command, globals_)}")


def option_hint(word: str, command: Command, globals_: dict[str, Flag]) -> str:
    """:func:`suggest` among the command's own options first: a word of one of them is
    meant for it, even when a global option has that word too (``--min`` for export's
    ``--min_minutes``, not ``--health_min_viewers``); then among all its options."""
    return suggest(word, list(command.flags)) or suggest(word, [*globals_, *command.flags])


def _find_command(words: list[str], commands: dict[str, Command]) -> Command:
    if not words:
        raise UsageError("no command given; run `tpdask` alone for the list of commands")
    name = words[0]
    if name not in commands:
        close = difflib.get_close_matches(name, list(commands), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown command {name!r}{hint}; commands: {', '.join(commands)}")
    return commands[name]


def parse(argv: list[str], commands: dict[str, Command], globals_: dict[str, Flag]) -> Parsed:
    """Check argv; raise UsageError (nothing has run) or say what to run, or whose help."""
    if any(token in HELP_FLAGS for token in argv):
        return Parsed(next((t for t in argv if t in commands), None), help=True)
    if argv and argv[0] == "help":
        name = argv[1] if len(argv) > 1 else None
        return Parsed(_find_command([name], commands).name if name else None, help=True)
    every = [*globals_.values(), *(f for c in commands.values() for f in c.flags.values())]
    bools = {f.name for f in every if f.kind is bool}
    flags, words = _lex(argv, bools, {f.name for f in every}, set(commands))
    command = _find_command(words, commands)
    values: dict[str, str] = {}
    for token, key, raw in flags:
        flag, negated = _resolve_flag(token, key, command, globals_)
        if flag.name in values:
            raise UsageError(f"--{flag.name} is given twice")
        value = check_value(flag, raw)
        values[flag.name] = {"True": "False", "False": "True"}[value] if negated else value
    required = [f for f in command.flags.values() if f.required and f.name not in values]
    extra = words[1:]
    for flag in required:
        if not extra:
            raise UsageError(f"`tpdask {command.name}` needs {flag.name.upper()}; "
                             f"usage: {command.usage()}")
        values[flag.name] = check_value(flag, extra.pop(0))
    for name in command.positional:
        if extra and name not in values:
            values[name] = check_value(command.flags[name], extra.pop(0))
    if extra:
        raise UsageError(f"unexpected argument {extra[0]!r} for `tpdask {command.name}`; "
                         f"usage: {command.usage()}")
    return Parsed(command.name, fire_argv=tuple(_fire_argv(command, globals_, values)))


def _fire_argv(command: Command, globals_: dict[str, Flag], values: dict[str, str]) -> list[str]:
    """Global settings before the command (fire gives them to the class), the rest after."""
    before = [f"--{n}={v}" for n, v in values.items() if n in globals_ and n not in command.flags]
    after = [f"--{n}={v}" for n, v in values.items() if n in command.flags]
    return [*before, command.name, *after]


def help_text(command: Command, globals_: dict[str, Flag]) -> str:
    """A command's help: usage line, docstring, its options with defaults, the globals."""
    lines = [f"usage: {command.usage()}", "", command.summary, "", command.doc, ""]
    if command.flags:
        lines.append("options:")
        for f in command.flags.values():
            left = f"--{f.name}" + (f" {f.metavar}" if f.metavar else "")
            right = ("required (or positional)" if f.required else
                     "default: not set" if f.default is None else f"default: {f.default!r}")
            lines.append(f"  {left:<28} {right}")
    lines.append("global options (before or after the command; `tpdask` alone describes them):")
    lines.append("  " + " ".join(f"--{n}" for n in globals_))
    return "\n".join(lines)
