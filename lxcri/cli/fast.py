"""The parser of the command lines engines send lxcri, fast because it imports nothing third-party.

`parse(argv)` either understands an argv completely and returns an
`Invocation`, or returns None and leaves it to the typer app (lxcri.cli.app),
which owns --help, the error messages and everything else. Both read the one
grammar, lxcri.cli.grammar.

Options are read the way click reads them, so that whatever this parser accepts
the typer app accepts with the same meaning (tests/unit/test_cli_grammar.py
checks it): `--opt value` and `--opt=value`; short options clustered (`-dq`)
or with the value attached (`-b/dir`); the next word taken as an option's value
even if it starts with a dash; `--` ending the options; a command's options
also after its ID (but not exec's: everything after its ID is the command);
the last of a repeated option winning, and a repeatable one (`-e`, `--cap`)
collecting every value. Global options come before the command word. Where
click would convert a value (`--preserve-fds +3`), this parser accepts only
the plain spelling and leaves the rest to typer.
"""
from __future__ import annotations

from lxcri.cli.grammar import COMMANDS, COUNT, FLAG, GLOBALS, LOG, LOG_FORMAT, REPEATED, Command
from lxcri.commands import GlobalOptions

# Stands in for typing.TYPE_CHECKING without importing typing (see lxcri.commands).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from lxcri.cli.grammar import Option


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


def parse(argv: Sequence[str]) -> Invocation | None:
    """The invocation argv asks for, or None when argv is anything this parser does not fully understand."""
    found = _scan_globals(argv)
    if found is None:
        return None
    values, at = found
    if not _check(GLOBALS, values):
        return None
    options = global_options(values)
    word = argv[at] if at < len(argv) else None
    command = COMMANDS.get(word) if word is not None else None
    if values["version"]:
        # The typer app prints the version once the global options are read
        # and the command word (if any) is known, ignoring what follows it.
        if word is None or command is not None:
            return Invocation(GLOBALS.function, options, {})
        return None
    if command is None:
        return None
    return _parse_command(command, argv, at + 1, options)


def global_options(values: Mapping[str, object]) -> GlobalOptions:
    """The GlobalOptions the global option keywords in values ask for (both parsers build them here)."""
    log, log_level, cgroup_manager = values["log"], values["log_level"], values["cgroup_manager"]
    return GlobalOptions(
        root=str(values["root"]), debug=bool(values["debug"]),
        log=None if log is None else str(log), log_format=str(values["log_format"]),
        log_level=None if log_level is None else str(log_level),
        cgroup_manager=None if cgroup_manager is None else str(cgroup_manager),
        systemd_cgroup=bool(values["systemd_cgroup"]))


def command_word(argv: Sequence[str]) -> str | None:
    """The command word of argv, or None if there is none or an unknown option hides where it is."""
    found = _scan_globals(argv)
    if found is None:
        return None
    at = found[1]
    return argv[at] if at < len(argv) else None


def log_options(argv: Sequence[str]) -> GlobalOptions:
    """Where to log a usage error in argv: the --log and --log-format found before the command word, best effort.

    Exact when the global options parse; otherwise every `--log`/`--log-format`
    before the first command word counts, whatever else is around them.
    """
    found = _scan_globals(argv)
    if found is not None:
        values = found[0]
    else:
        values = dict(GLOBALS.defaults)
        i = 0
        while i < len(argv) and argv[i] not in COMMANDS and argv[i] != "--":
            name, has_value, value = argv[i].partition("=")
            i += 1
            option = GLOBALS.table.get(name)
            if option is LOG or option is LOG_FORMAT:
                if not has_value:
                    if i == len(argv):
                        break
                    value = argv[i]
                    i += 1
                values[option.keyword] = value
    log = values[LOG.keyword]
    log_format = values[LOG_FORMAT.keyword]
    if log_format not in LOG_FORMAT.choices:
        log_format = LOG_FORMAT.default
    return GlobalOptions(log=None if log is None else str(log), log_format=str(log_format))


def _scan_globals(argv: Sequence[str]) -> tuple[dict[str, object], int] | None:
    values = dict(GLOBALS.defaults)
    stop = _scan(argv, 0, GLOBALS.table, values, stop_at_operand=True)
    return None if stop is None else (values, stop)


def _parse_command(command: Command, argv: Sequence[str], start: int,
                   options: GlobalOptions) -> Invocation | None:
    values = dict(command.defaults)
    count = len(command.operands)
    if command.rest is None:
        operands: list[str] = []
        if _scan(argv, start, command.table, values, operands, stop_at_operand=False) is None:
            return None
    else:
        at = _scan(argv, start, command.table, values, stop_at_operand=True)
        if at is None:
            return None
        operands = list(argv[at:at + count])
        values[command.rest.keyword] = list(argv[at + count:])
    if not command.required <= len(operands) <= count:
        return None
    if not _check(command, values):
        return None
    for option in command.repeated:
        collected = values[option.keyword]
        assert isinstance(collected, (list, tuple))
        values[option.keyword] = list(collected)  # the grammar's default is an empty tuple
    for operand, word in zip(command.operands, operands):
        values[operand.keyword] = word
    return Invocation(command.function, options, values)


def _check(command: Command, values: dict[str, object]) -> bool:
    """Whether the values given are among the choices; counts are turned into ints on the way."""
    for option in command.checked:
        value = values[option.keyword]
        if option.kind == COUNT:
            if isinstance(value, str):
                if not (value.isascii() and value.isdigit()):
                    return False
                values[option.keyword] = int(value)
        elif value is not None and value not in option.choices:
            return False
    return True


def _scan(argv: Sequence[str], i: int, table: Mapping[str, Option], values: dict[str, object],
          operands: list[str] | None = None, *, stop_at_operand: bool) -> int | None:
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
            assert operands is not None
            operands.extend(argv[i:])
            return end
        if word.startswith("--"):
            name, has_value, value = word.partition("=")
            if name not in table:
                return None
            option = table[name]
            if option.kind == FLAG:
                if has_value:
                    return None
                values[option.keyword] = True
                continue
            if not has_value:
                if i == end:
                    return None
                value = argv[i]
                i += 1
            _store(values, option, value)
        elif word.startswith("-") and word != "-":
            # A cluster of short options; the first one taking a value takes
            # the rest of the word, or the next word when nothing is left.
            for at in range(1, len(word)):
                spelling = "-" + word[at]
                if spelling not in table:
                    return None
                option = table[spelling]
                if option.kind == FLAG:
                    values[option.keyword] = True
                    continue
                rest = word[at + 1:]
                if not rest:
                    if i == end:
                        return None
                    rest = argv[i]
                    i += 1
                _store(values, option, rest)
                break
        elif stop_at_operand:
            return i - 1
        else:
            assert operands is not None
            operands.append(word)
    return end


def _store(values: dict[str, object], option: Option, value: str) -> None:
    if option.kind == REPEATED:
        collected = values[option.keyword]
        assert isinstance(collected, (list, tuple))
        values[option.keyword] = [*collected, value]
    else:
        values[option.keyword] = value
