"""What the CLI tests share: a recording test double for lxcri.commands, the seal stand-in, and both parse paths.

Import the fixtures by name into a test module (`from cli_support import
recorder, seals  # noqa: F401`); `seals` is autouse there.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import pytest

from lxcri import __main__ as entry
from lxcri import cli, commands
from lxcri.cli import fast, grammar
from lxcri.commands import GlobalOptions

# Every function of lxcri.commands a command line can call.
COMMAND_FUNCTIONS = tuple(sorted({command.function for command in grammar.COMMANDS.values()}
                                 | {grammar.GLOBALS.function}))

Call = tuple[str, dict[str, Any]]


class RecordingCommands:
    """TEST DOUBLE for the command functions of lxcri.commands.

    Installed with monkeypatch over the real functions; each replacement checks
    its arguments against the real function's signature (so a parser that
    leaves one out fails), records (function name, arguments) and returns
    `exit_code` without touching any container.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[Call] = []
        self.exit_code = 0
        self.raises: BaseException | None = None
        for name in COMMAND_FUNCTIONS:
            monkeypatch.setattr(commands, name, self._recorder(name, getattr(commands, name)))

    def _recorder(self, name: str, real: Callable[..., int]) -> Callable[..., int]:
        signature = inspect.signature(real)

        def record(*args: Any, **kwargs: Any) -> int:
            bound = signature.bind(*args, **kwargs)
            self.calls.append((name, dict(bound.arguments)))
            if self.raises is not None:
                raise self.raises
            return self.exit_code

        return record

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture(autouse=True)
def seals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of lxcri.__main__.seal, replaced in every test by a no-op test double.

    The real one remaps the process or re-executes it: here that would be pytest itself.
    """
    made: list[int] = []
    monkeypatch.setattr(entry, "seal", lambda debug=False: made.append(1))
    return made


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingCommands:
    return RecordingCommands(monkeypatch)


def via_fast(argv: list[str], recorder: RecordingCommands) -> tuple[list[Call], int]:
    """The calls argv makes through the fast parser, which must understand it, and the exit code."""
    invocation = fast.parse(argv)
    assert invocation is not None, f"the fast parser should understand {argv}"
    code = entry.run_invocation(invocation)
    return recorder.take(), code


def via_typer(argv: list[str], recorder: RecordingCommands) -> tuple[list[Call], int]:
    """The calls argv makes through the typer app, and the exit code."""
    code = cli.main(list(argv))
    return recorder.take(), code


def opts(root: str = commands.DEFAULT_ROOT, debug: bool = False, **more: Any) -> GlobalOptions:
    return GlobalOptions(root=root, debug=debug, **more)
