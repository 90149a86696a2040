"""A hand-written parser for the command lines engines send lxcri, fast because it imports nothing third-party.

`parse(argv)` either understands an argv completely and returns an
`Invocation`, or returns None and leaves it to the typer app (lxcri.cli.app),
which owns --help, the error messages and everything outside this grammar:

    lxcri [--root DIR] [--debug] [--log FILE] [--log-format text|json]
          [--log-level debug|info|warning|warn|error] [--systemd-cgroup]
          [--cgroup-manager cgroupfs|systemd|disabled] [--rootless true|false|auto]
          [--version|-v|-V] COMMAND ...
      create  [--bundle|-b DIR] [--config|-f FILE] [--pid-file FILE] [--console-socket PATH]
              [--preserve-fds N] [--no-pivot] [--no-new-keyring] [--no-subreaper]
              [--runtime crun|runc|lxc|vm] ID
      run     (create's options) [--detach|-d] [--keep] ID
      exec    [--process|-p FILE] [--detach|-d] [--tty|-t] [--console-socket PATH]
              [--pid-file FILE] [--cwd DIR] [--env|-e K=V]... [--user|-u UID[:GID]]
              [--cap|-c CAP]... [--no-new-privs] [--preserve-fds N] ID [COMMAND [ARG...]]
      start ID | state ID | pause ID | resume ID
      kill    [--all|-a] ID [SIGNAL]
      delete  [--force|-f] [--regex|-r] ID
      list    [--format|-f table|json] [--quiet|-q]
      ps      [--format|-f table|json] ID
      update  [--resources|-r FILE|-] [--memory B] [--memory-reservation B] [--memory-swap B]
              [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpu-rt-runtime N]
              [--cpu-rt-period N] [--cpuset-cpus S] [--cpuset-mems S] [--pids-limit N]
              [--blkio-weight N] ID
      spec    [--bundle|-b DIR] [--rootless]
      features
      info    [--format|-f text|json]

Options are read the way click reads them, so that whatever this parser accepts
the typer app accepts with the same meaning (tests/unit/test_cli_parse.py
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

from lxcri.commands import (
    CGROUP_MANAGERS,
    DEFAULT_CONFIG,
    DEFAULT_ROOT,
    DEFAULT_SIGNAL,
    LOG_FORMATS,
    INFO_FORMATS,
    LOG_LEVELS,
    OUTPUT_FORMATS,
    ROOTLESS_VALUES,
    RUNTIMES,
    GlobalOptions,
)

# What an option spelling does with the words after it.
FLAG = 0       # takes no value: sets its keyword to True
VALUE = 1      # takes one value: the last one given wins
REPEATED = 2   # takes one value each time: the keyword collects them all in a list

# Stands in for typing.TYPE_CHECKING without importing typing (see lxcri.commands).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    # An option's spelling maps to (the keyword it sets, FLAG, VALUE or REPEATED).
    OptionTable = Mapping[str, tuple[str, int]]


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
    """What one command (or the global options, with function "") accepts."""

    __slots__ = ("function", "options", "operands", "required", "defaults", "choices", "counts", "rest")

    def __init__(self, function: str, options: OptionTable, operands: tuple[str, ...],
                 defaults: dict[str, object], *, required: int = 1,
                 choices: Mapping[str, tuple[str, ...]] | None = None,
                 counts: tuple[str, ...] = (), rest: str | None = None) -> None:
        self.function = function      # attribute name in lxcri.commands
        self.options = options
        self.operands = operands      # keywords the positional words fill, in order
        self.required = required      # how many of them must be given
        self.defaults = defaults      # every option keyword and optional operand
        self.choices = choices or {}  # keyword -> the values it accepts
        self.counts = counts          # keywords whose value is a count: plain digits, passed as int
        # The keyword taking every word after the operands as a list; options
        # then end at the first positional word, as click reads a command that
        # does not allow interspersed arguments.
        self.rest = rest


GLOBALS = _Grammar(
    "",
    {
        "--root": ("root", VALUE),
        "--debug": ("debug", FLAG),
        "--log": ("log", VALUE),
        "--log-format": ("log_format", VALUE),
        "--log-level": ("log_level", VALUE),
        "--systemd-cgroup": ("systemd_cgroup", FLAG),
        "--cgroup-manager": ("cgroup_manager", VALUE),
        "--rootless": ("rootless", VALUE),
        "--version": ("version", FLAG),
        "-v": ("version", FLAG),
        "-V": ("version", FLAG),
    },
    (),
    {"root": DEFAULT_ROOT, "debug": False, "log": None, "log_format": "text", "log_level": None,
     "systemd_cgroup": False, "cgroup_manager": None, "rootless": None, "version": False},
    required=0,
    choices={"log_format": LOG_FORMATS, "log_level": LOG_LEVELS, "cgroup_manager": CGROUP_MANAGERS,
             "rootless": ROOTLESS_VALUES},
)

_CREATE_OPTIONS: OptionTable = {
    "--bundle": ("bundle", VALUE),
    "-b": ("bundle", VALUE),
    "--config": ("config", VALUE),
    "-f": ("config", VALUE),
    "--pid-file": ("pid_file", VALUE),
    "--console-socket": ("console_socket", VALUE),
    "--preserve-fds": ("preserve_fds", VALUE),
    "--no-pivot": ("no_pivot", FLAG),
    "--no-new-keyring": ("no_new_keyring", FLAG),
    "--no-subreaper": ("no_subreaper", FLAG),
    "--runtime": ("runtime", VALUE),
}
_CREATE_DEFAULTS: dict[str, object] = {
    "bundle": None, "config": DEFAULT_CONFIG, "pid_file": None, "console_socket": None, "preserve_fds": 0,
    "no_pivot": False, "no_new_keyring": False, "no_subreaper": False, "runtime": None}
_CREATE_CHOICES = {"runtime": RUNTIMES}

_EXEC_OPTIONS: OptionTable = {
    "--process": ("process", VALUE),
    "-p": ("process", VALUE),
    "--detach": ("detach", FLAG),
    "-d": ("detach", FLAG),
    "--tty": ("tty", FLAG),
    "-t": ("tty", FLAG),
    "--console-socket": ("console_socket", VALUE),
    "--pid-file": ("pid_file", VALUE),
    "--cwd": ("cwd", VALUE),
    "--env": ("env", REPEATED),
    "-e": ("env", REPEATED),
    "--user": ("user", VALUE),
    "-u": ("user", VALUE),
    "--cap": ("caps", REPEATED),
    "-c": ("caps", REPEATED),
    "--no-new-privs": ("no_new_privs", FLAG),
    "--preserve-fds": ("preserve_fds", VALUE),
}
_EXEC_DEFAULTS: dict[str, object] = {
    "command": [], "process": None, "detach": False, "tty": False, "console_socket": None, "pid_file": None,
    "cwd": None, "env": [], "user": None, "caps": [], "no_new_privs": False, "preserve_fds": 0}

# update's resource options, all taking a value that lxcri.commands.update converts.
UPDATE_RESOURCE_OPTIONS = (
    "--memory", "--memory-reservation", "--memory-swap", "--cpu-shares", "--cpu-quota", "--cpu-period",
    "--cpu-rt-runtime", "--cpu-rt-period", "--cpuset-cpus", "--cpuset-mems", "--pids-limit", "--blkio-weight")
_UPDATE_OPTIONS: OptionTable = {
    "--resources": ("resources", VALUE),
    "-r": ("resources", VALUE),
    **{spelling: (spelling[2:].replace("-", "_"), VALUE) for spelling in UPDATE_RESOURCE_OPTIONS},
}
_UPDATE_DEFAULTS: dict[str, object] = {key: None for key, _ in _UPDATE_OPTIONS.values()}

_FORMAT_OPTIONS: OptionTable = {"--format": ("output_format", VALUE), "-f": ("output_format", VALUE)}
_FORMAT_CHOICES = {"output_format": OUTPUT_FORMATS}

_ID = ("container_id",)

GRAMMARS: dict[str, _Grammar] = {
    "create": _Grammar("create", _CREATE_OPTIONS, _ID, _CREATE_DEFAULTS, counts=("preserve_fds",),
                       choices=_CREATE_CHOICES),
    "run": _Grammar("run", {**_CREATE_OPTIONS, "--detach": ("detach", FLAG), "-d": ("detach", FLAG),
                            "--keep": ("keep", FLAG)},
                    _ID, {**_CREATE_DEFAULTS, "detach": False, "keep": False}, counts=("preserve_fds",),
                    choices=_CREATE_CHOICES),
    "exec": _Grammar("exec_process", _EXEC_OPTIONS, _ID, _EXEC_DEFAULTS, counts=("preserve_fds",),
                     rest="command"),
    "start": _Grammar("start", {}, _ID, {}),
    "state": _Grammar("state", {}, _ID, {}),
    "pause": _Grammar("pause", {}, _ID, {}),
    "resume": _Grammar("resume", {}, _ID, {}),
    "kill": _Grammar("kill", {"--all": ("all_processes", FLAG), "-a": ("all_processes", FLAG)},
                     ("container_id", "signal"), {"signal": DEFAULT_SIGNAL, "all_processes": False}),
    "delete": _Grammar("delete", {"--force": ("force", FLAG), "-f": ("force", FLAG),
                                  "--regex": ("regex", FLAG), "-r": ("regex", FLAG)},
                       _ID, {"force": False, "regex": False}),
    "list": _Grammar("list_containers", {**_FORMAT_OPTIONS, "--quiet": ("quiet", FLAG), "-q": ("quiet", FLAG)},
                     (), {"output_format": "table", "quiet": False}, required=0, choices=_FORMAT_CHOICES),
    "ps": _Grammar("ps", _FORMAT_OPTIONS, _ID, {"output_format": "table"}, choices=_FORMAT_CHOICES),
    "update": _Grammar("update", _UPDATE_OPTIONS, _ID, _UPDATE_DEFAULTS),
    "spec": _Grammar("spec", {"--bundle": ("bundle", VALUE), "-b": ("bundle", VALUE),
                              "--rootless": ("rootless", FLAG)},
                     (), {"bundle": None, "rootless": False}, required=0),
    "features": _Grammar("features", {}, (), {}, required=0),
    "info": _Grammar("info", _FORMAT_OPTIONS, (), {"output_format": "text"}, required=0,
                     choices={"output_format": INFO_FORMATS}),
}


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
    grammar = GRAMMARS.get(word) if word is not None else None
    if values["version"]:
        # The typer app prints the version once the global options are read
        # and the command word (if any) is known, ignoring what follows it.
        if word is None or grammar is not None:
            return Invocation("version", options, {})
        return None
    if grammar is None:
        return None
    return _parse_command(grammar, argv, at + 1, options)


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
        while i < len(argv) and argv[i] not in GRAMMARS and argv[i] != "--":
            name, has_value, value = argv[i].partition("=")
            i += 1
            if name in ("--log", "--log-format"):
                if not has_value:
                    if i == len(argv):
                        break
                    value = argv[i]
                    i += 1
                values[GLOBALS.options[name][0]] = value
    log = values["log"]
    log_format = values["log_format"] if values["log_format"] in LOG_FORMATS else "text"
    return GlobalOptions(log=None if log is None else str(log), log_format=str(log_format))


def _scan_globals(argv: Sequence[str]) -> tuple[dict[str, object], int] | None:
    values = dict(GLOBALS.defaults)
    stop = _scan(argv, 0, GLOBALS.options, values, stop_at_operand=True)
    return None if stop is None else (values, stop)


def _parse_command(grammar: _Grammar, argv: Sequence[str], start: int,
                   options: GlobalOptions) -> Invocation | None:
    values = dict(grammar.defaults)
    if grammar.rest is None:
        operands: list[str] = []
        if _scan(argv, start, grammar.options, values, operands, stop_at_operand=False) is None:
            return None
    else:
        at = _scan(argv, start, grammar.options, values, stop_at_operand=True)
        if at is None:
            return None
        operands = list(argv[at:at + len(grammar.operands)])
        values[grammar.rest] = list(argv[at + len(grammar.operands):])
    if not grammar.required <= len(operands) <= len(grammar.operands):
        return None
    if not _check(grammar, values):
        return None
    values.update(zip(grammar.operands, operands))
    return Invocation(grammar.function, options, values)


def _check(grammar: _Grammar, values: dict[str, object]) -> bool:
    """Whether the values given are among the choices; counts are turned into ints on the way."""
    for key, allowed in grammar.choices.items():
        if values[key] is not None and values[key] not in allowed:
            return False
    for key in grammar.counts:
        value = values[key]
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit()):
                return False
            values[key] = int(value)
    return True


def _scan(argv: Sequence[str], i: int, table: OptionTable, values: dict[str, object],
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
            key, kind = table[name]
            if kind == FLAG:
                if has_value:
                    return None
                values[key] = True
                continue
            if not has_value:
                if i == end:
                    return None
                value = argv[i]
                i += 1
            _store(values, key, kind, value)
        elif word.startswith("-") and word != "-":
            # A cluster of short options; the first one taking a value takes
            # the rest of the word, or the next word when nothing is left.
            for at in range(1, len(word)):
                spelling = "-" + word[at]
                if spelling not in table:
                    return None
                key, kind = table[spelling]
                if kind == FLAG:
                    values[key] = True
                    continue
                rest = word[at + 1:]
                if not rest:
                    if i == end:
                        return None
                    rest = argv[i]
                    i += 1
                _store(values, key, kind, rest)
                break
        elif stop_at_operand:
            return i - 1
        else:
            assert operands is not None
            operands.append(word)
    return end


def _store(values: dict[str, object], key: str, kind: int, value: str) -> None:
    if kind == REPEATED:
        collected = values[key]
        assert isinstance(collected, list)
        values[key] = [*collected, value]  # a new list: the grammar's default stays empty
    else:
        values[key] = value
