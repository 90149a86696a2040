"""The quick way for the commands an engine repeats most: `state ID`, `kill ID [SIGNAL]`,
`start ID`, `delete [--force] ID` and `list [-q] [-f table|json]`, with only the plain
global options.

`run(argv)` returns the exit code when it answered, None when argv is anything else
or lxcri.quick is not sure of the answer; lxcri.__main__ then goes the full way
(lxcri.cli.fast, lxcri.commands), which prints the same in every case this answers,
and errors in every case it does not. Nothing but these spellings is taken here:
the rest of the grammar (lxcri.cli.grammar) stays with the parsers that own it.
"""
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Dict, List, Optional

# Global options the quick way accepts, with a value each; --systemd-cgroup is the only
# flag (what the cgroup manager is does not change what state, kill and list read).
_GLOBAL_VALUES = ("--root", "--log", "--log-format", "--cgroup-manager", "--log-level")
_CHOICES = {"--log-format": ("text", "json"), "--cgroup-manager": ("cgroupfs", "systemd", "disabled"),
            "--log-level": ("info", "warning", "warn", "error")}


def _globals(argv: "Sequence[str]") -> "Optional[tuple[Dict[str, str], int]]":
    values: Dict[str, str] = {"--root": "/run/lxcri"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            return values, i
        if arg == "--systemd-cgroup":
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in _GLOBAL_VALUES:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        i += 1
        if name in _CHOICES and value not in _CHOICES[name]:
            return None
        values[name] = value
    return None


def _list_options(rest: "Sequence[str]") -> "Optional[tuple[str, bool]]":
    fmt, quiet, i = "table", False, 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-f", "--format") and i + 1 < len(rest):
            fmt = rest[i + 1]
            i += 1
        elif arg.startswith("--format="):
            fmt = arg[len("--format="):]
        else:
            return None
        if fmt not in ("table", "json"):
            return None
        i += 1
    return fmt, quiet


def _operands(rest: "Sequence[str]", most: int) -> "Optional[List[str]]":
    if not 1 <= len(rest) <= most or any(arg.startswith("-") for arg in rest):
        return None
    return list(rest)


def answer(argv: "Sequence[str]") -> "Optional[str]":
    """What argv prints, done the quick way (a kill is sent by then); None: go the full way.
    Whatever goes wrong on the way is left to the full way too, which reports it."""
    found = _globals(argv)
    if found is None:
        return None
    values, at = found
    word, rest = argv[at], argv[at + 1:]
    if word not in ("state", "kill", "start", "delete", "list"):
        return None
    from lxcri import quick

    root = values["--root"]
    try:
        if word == "state":
            operands = _operands(rest, 1)
            return quick.state_text(root, operands[0]) if operands else None
        if word == "start":
            operands = _operands(rest, 1)
            return "" if operands and quick.start(root, operands[0]) else None
        if word == "delete":
            force = rest[:1] in (["-f"], ["--force"])
            operands = _operands(rest[1:] if force else rest, 1)
            return "" if operands and quick.delete(root, operands[0], force) else None
        if word == "kill":
            operands = _operands(rest, 2)
            if operands is None:
                return None
            sent = quick.kill(root, operands[0], operands[1] if len(operands) > 1 else "TERM")
            return "" if sent else None
        options = _list_options(rest)
        states = quick.states(root) if options is not None else None
        if options is None or states is None:
            return None
        from lxcri import listing

        fmt, quiet = options
        if quiet:
            return "".join(f"{s.id}\n" for s in states)
        return listing.format_json_list(states) if fmt == "json" else listing.format_table(states)
    except Exception:
        return None


def run(argv: "Sequence[str]") -> "Optional[int]":
    """The exit code of argv done the quick way, or None: go the full way."""
    text = answer(argv)
    if text is None:
        return None
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `lxcri list | head`: as lxcri.commands.invoke has it
        from lxcri.commands_more import _silence_stdout

        _silence_stdout()
        return 1
    return 0
