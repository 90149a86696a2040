"""A hand-written parser for the command lines engines send lxcri, fast because it imports nothing third-party.

`parse(argv)` either understands an argv completely and returns an
`Invocation`, or returns None and leaves it to the typer app (lxcri.cli), which
owns --help, the error messages and everything outside this grammar:

    lxcri [--root DIR] [--debug] [--version|-v|-V] COMMAND ...
      create [--bundle|-b DIR] [--config|-f FILE] [--pid-file FILE] ID
      start ID
      state ID
      kill ID [SIGNAL]
      delete [--force|-f] ID
      run [--bundle|-b DIR] [--config|-f FILE] [--pid-file FILE] [--detach|-d] ID
      list [--format|-f table|json] [--quiet|-q]

Options are read the way click reads them, so that whatever this parser accepts
the typer app accepts with the same meaning (tests/unit/test_cli_parse.py
checks it): `--opt value` and `--opt=value`; short options clustered (`-dq`)
or with the value attached (`-b/dir`); the next word taken as an option's value
even if it starts with a dash; `--` ending the options; a command's options
also after its ID; the last of a repeated option winning. Global options come
before the command word.
"""
from __future__ import annotations

from lxcri.commands import DEFAULT_CONFIG, DEFAULT_ROOT, DEFAULT_SIGNAL, LIST_FORMATS, GlobalOptions

# Stands in for typing.TYPE_CHECKING without importing typing (see lxcri.commands).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    # An option's spelling maps to (the keyword it sets, whether it takes a value).
    OptionTable = Mapping[str, tuple[str, bool]]


class Invocation:
    """One parsed command line: which function of lxcri.commands to call, and with what."""

    __slots__ = ("function", "options", "arguments")

    def __init__(self, function: str, options: GlobalOptions, arguments: dict[str, object]) -> None:
        self.function = function
        self.options = options
        self.arguments = arguments

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Invocation):
            return NotImplemented
        return ((self.function, self.options, self.arguments)
                == (other.function, other.options, other.arguments))

    def __repr__(self) -> str:
        return f"Invocation({self.function!r}, {self.options!r}, {self.arguments!r})"


class _Grammar:
    """What one command accepts."""

    __slots__ = ("function", "options", "operands", "required", "defaults", "choices")

    def __init__(self, function: str, options: OptionTable, operands: tuple[str, ...],
                 defaults: dict[str, object], *, required: int = 1,
                 choices: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.function = function      # attribute name in lxcri.commands
        self.options = options
        self.operands = operands      # keywords the positional words fill, in order
        self.required = required      # how many of them must be given
        self.defaults = defaults      # every option keyword and optional operand
        self.choices = choices or {}


GLOBAL_OPTIONS: OptionTable = {
    "--root": ("root", True),
    "--debug": ("debug", False),
    "--version": ("version", False),
    "-v": ("version", False),
    "-V": ("version", False),
}

_BUNDLE_OPTIONS: OptionTable = {
    "--bundle": ("bundle", True),
    "-b": ("bundle", True),
    "--config": ("config", True),
    "-f": ("config", True),
    "--pid-file": ("pid_file", True),
}
_BUNDLE_DEFAULTS: dict[str, object] = {"bundle": None, "config": DEFAULT_CONFIG, "pid_file": None}

_ID = ("container_id",)

GRAMMARS: dict[str, _Grammar] = {
    "create": _Grammar("create", _BUNDLE_OPTIONS, _ID, _BUNDLE_DEFAULTS),
    "start": _Grammar("start", {}, _ID, {}),
    "state": _Grammar("state", {}, _ID, {}),
    "kill": _Grammar("kill", {}, ("container_id", "signal"), {"signal": DEFAULT_SIGNAL}),
    "delete": _Grammar("delete", {"--force": ("force", False), "-f": ("force", False)},
                       _ID, {"force": False}),
    "run": _Grammar("run", {**_BUNDLE_OPTIONS, "--detach": ("detach", False), "-d": ("detach", False)},
                    _ID, {**_BUNDLE_DEFAULTS, "detach": False}),
    "list": _Grammar("list_containers",
                     {"--format": ("output_format", True), "-f": ("output_format", True),
                      "--quiet": ("quiet", False), "-q": ("quiet", False)},
                     (), {"output_format": "table", "quiet": False}, required=0,
                     choices={"output_format": LIST_FORMATS}),
}


def parse(argv: Sequence[str]) -> Invocation | None:
    """The invocation argv asks for, or None when argv is anything this parser does not fully understand."""
    found = _scan_globals(argv)
    if found is None:
        return None
    values, at = found
    options = GlobalOptions(root=str(values.get("root", DEFAULT_ROOT)), debug=bool(values.get("debug")))
    word = argv[at] if at < len(argv) else None
    grammar = GRAMMARS.get(word) if word is not None else None
    if values.get("version"):
        # The typer app prints the version once the global options are read
        # and the command word (if any) is known, ignoring what follows it.
        if word is None or grammar is not None:
            return Invocation("version", options, {})
        return None
    if grammar is None:
        return None
    return _parse_command(grammar, argv, at + 1, options)


def command_word(argv: Sequence[str]) -> str | None:
    """The command word of argv, or None if there is none or an unknown option hides where it is."""
    found = _scan_globals(argv)
    if found is None:
        return None
    at = found[1]
    return argv[at] if at < len(argv) else None


def _scan_globals(argv: Sequence[str]) -> tuple[dict[str, object], int] | None:
    values: dict[str, object] = {}
    stop = _scan(argv, 0, GLOBAL_OPTIONS, values, [], stop_at_operand=True)
    return None if stop is None else (values, stop)


def _parse_command(grammar: _Grammar, argv: Sequence[str], start: int,
                   options: GlobalOptions) -> Invocation | None:
    values = dict(grammar.defaults)
    operands: list[str] = []
    if _scan(argv, start, grammar.options, values, operands, stop_at_operand=False) is None:
        return None
    if not grammar.required <= len(operands) <= len(grammar.operands):
        return None
    for key, allowed in grammar.choices.items():
        if values[key] not in allowed:
            return None
    values.update(zip(grammar.operands, operands))
    return Invocation(grammar.function, options, values)


def _scan(argv: Sequence[str], i: int, table: OptionTable, values: dict[str, object],
          operands: list[str], *, stop_at_operand: bool) -> int | None:
    """Read options from argv[i:] into values and positional words into operands.

    Returns the index where reading stopped: the first positional word when
    stop_at_operand, else len(argv). None for an unknown option, a flag given a
    value, or a missing value.
    """
    end = len(argv)
    while i < end:
        word = argv[i]
        i += 1
        if word == "--":
            if stop_at_operand:
                return i
            operands.extend(argv[i:])
            return end
        if word.startswith("--"):
            name, has_value, value = word.partition("=")
            if name not in table:
                return None
            key, takes_value = table[name]
            if not takes_value:
                if has_value:
                    return None
                values[key] = True
                continue
            if not has_value:
                if i == end:
                    return None
                value = argv[i]
                i += 1
            values[key] = value
        elif word.startswith("-") and word != "-":
            # A cluster of short options; the first one taking a value takes
            # the rest of the word, or the next word when nothing is left.
            for at in range(1, len(word)):
                spelling = "-" + word[at]
                if spelling not in table:
                    return None
                key, takes_value = table[spelling]
                if not takes_value:
                    values[key] = True
                    continue
                rest = word[at + 1:]
                if not rest:
                    if i == end:
                        return None
                    rest = argv[i]
                    i += 1
                values[key] = rest
                break
        elif stop_at_operand:
            return i - 1
        else:
            operands.append(word)
    return end
