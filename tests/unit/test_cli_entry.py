"""lxcri's entry point without root: the seal decision, exit codes, errors on both paths, what the fast path imports.

lxcri.__main__ seals the process for commands that enter a container, parses
fast and falls back to the typer app; an engine runs it over and over, so the
fast path may import nothing but lxcri.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Callable

import pytest

from cli_support import RecordingCommands, recorder, seals, via_typer  # noqa: F401  (fixtures)
from lxcri import __main__ as entry
from lxcri import cli, commands
from lxcri.errors import ContainerNotFound

# Where the lxcri under test lives (the source tree or site-packages): the
# subprocess checks import that one too.
LXCRI_HOME = os.path.dirname(os.path.dirname(os.path.abspath(commands.__file__)))


@pytest.mark.parametrize("argv,sealed", [
    (["create", "c1"], True), (["--root", "/r", "run", "-d", "c1"], True), (["exec", "c1"], True),
    (["--root", "create", "state", "c1"], False),      # "create" is --root's value here
    (["--log", "/x", "create", "c1"], True),
    (["--bogus", "/x", "exec", "c1"], True),           # unknown option: any create/run/exec word counts
    (["exec", "-p", "/p.json", "c1"], True), (["ps", "c1"], False), (["update", "-r", "-", "c1"], False),
    (["state", "create"], False), (["kill", "c1"], False), (["list"], False), (["--version"], False),
])
def test_main_seals_only_commands_that_enter_a_container(argv: list[str], sealed: bool,
                                                         seals: list[int], recorder: RecordingCommands,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    entry.main(argv)
    capsys.readouterr()
    assert bool(seals) == sealed


def test_main_stops_when_sealing_fails(monkeypatch: pytest.MonkeyPatch, recorder: RecordingCommands,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(debug: bool = False) -> None:
        raise OSError(38, "memfd_create not supported")

    monkeypatch.setattr(entry, "seal", refuse)
    assert entry.main(["run", "c1"]) == 1
    assert recorder.calls == []
    assert capsys.readouterr().err == "lxcri: internal error: OSError: [Errno 38] memfd_create not supported\n"


@pytest.mark.parametrize("argv", [["run", "c1"], ["run", "c1", "--help-me"]])
def test_main_returns_the_container_exit_code(argv: list[str], seals: list[int],
                                              recorder: RecordingCommands,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    recorder.exit_code = 137
    code = entry.main(argv)
    capsys.readouterr()
    if recorder.calls:  # the fast path (the second argv is a usage error on the typer path)
        assert code == 137
    else:
        assert code == 1


def test_typer_path_returns_the_command_exit_code(recorder: RecordingCommands) -> None:
    recorder.exit_code = 42
    assert via_typer(["run", "c1"], recorder)[1] == 42


@pytest.mark.parametrize("main", [entry.main, cli.main], ids=["fast", "typer"])
@pytest.mark.parametrize("error,message", [
    (ContainerNotFound("container 'c1' does not exist"), "lxcri: container 'c1' does not exist\n"),
    (RuntimeError("boom"), "lxcri: internal error: RuntimeError: boom\n"),
])
def test_errors_from_commands_are_one_line_on_both_paths(main: Callable[[list[str]], int], error: Exception,
                                                         message: str, recorder: RecordingCommands,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    recorder.raises = error
    assert main(["state", "c1"]) == 1
    assert capsys.readouterr() == ("", message)
    assert len(recorder.calls) == 1


# --- what the fast path imports -------------------------------------------------------

HEAVY = ("typer", "click", "rich", "jsonschema")


def python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=LXCRI_HOME)
    done = subprocess.run([sys.executable, "-c", code], cwd=LXCRI_HOME, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def test_fast_path_modules_import_nothing_heavy() -> None:
    out = python("import lxcri.__main__, lxcri.cli, lxcri.cli.grammar, lxcri.cli.fast, lxcri.commands, sys; "
                 f"print(any(m in sys.modules for m in {HEAVY!r}))")
    assert out == "False\n"


def test_a_fast_command_runs_without_importing_anything_heavy() -> None:
    out = python(
        "import sys\n"
        "from lxcri import __main__, commands\n"
        "class FakeRuntime:  # test double for lxcri.runtime.Runtime\n"
        "    def state_json(self, cid): return '{\"id\": \"%s\"}' % cid\n"
        "    def close(self): pass\n"
        "commands.open_runtime = lambda options: FakeRuntime()\n"
        "code = __main__.main(['--root', '/tmp/nowhere', 'state', 'c1'])\n"
        f"print(code, [m for m in {HEAVY!r} + ('typing', 'dataclasses', 'json') if m in sys.modules])\n")
    assert out.splitlines()[0] == '{"id": "c1"}'
    code, imported = out.splitlines()[1].split(" ", 1)
    assert code == "0"
    assert not any(m in imported for m in HEAVY), imported


def test_a_fast_command_imports_nothing_but_lxcri() -> None:
    """The global options engines pass (--log, --log-format, --cgroup-manager) cost no import either."""
    out = python(
        "import sys\n"
        "before = set(sys.modules)\n"
        "from lxcri import __main__, commands\n"
        "class FakeRuntime:  # test double for lxcri.runtime.Runtime\n"
        "    def delete(self, cid, force=False): pass\n"
        "    def close(self): pass\n"
        "commands.open_runtime = lambda options: FakeRuntime()\n"
        "code = __main__.main(['--root', '/tmp/nowhere', '--log', '/nonexistent/log.json', '--log-format', 'json',\n"
        "                      '--cgroup-manager', 'disabled', 'delete', '--force', 'c1'])\n"
        "new = sorted(m for m in set(sys.modules) - before if m != '__future__' and not m.startswith('lxcri'))\n"
        "print(code, new)\n")
    assert out == "0 []\n"


def test_the_grammar_imports_nothing_but_lxcri() -> None:
    """Every engine call reads the grammar: no typing, enum, re or json, let alone typer, to get at it."""
    out = python(
        "import sys\n"
        "before = set(sys.modules)\n"
        "import lxcri.cli, lxcri.cli.grammar, lxcri.cli.fast\n"
        "print(sorted(m for m in set(sys.modules) - before if m != '__future__' and not m.startswith('lxcri')))\n")
    assert out == "[]\n"


def test_the_words_that_skip_the_quick_way_are_the_entering_commands() -> None:
    """__main__ spells them itself (the grammar costs an import the quick way avoids)."""
    from lxcri.cli import grammar

    assert entry._ENTERING_WORDS == grammar.ENTERING_COMMANDS


@pytest.mark.parametrize("orig, expected", [
    (["py", "-I", "-S", "-OO", "-X", "no_debug_ranges", "/v/lxcri/_launch.py", "/v/bin/lxcri",
      "create", "-OO"],
     ["py", "-I", "-S", "/v/lxcri/_launch.py", "/v/bin/lxcri", "create", "-OO"]),
    (["py", "-X", "dev", "-OO", "-m", "lxcri", "-X", "no_debug_ranges"],
     ["py", "-X", "dev", "-m", "lxcri", "-X", "no_debug_ranges"]),
    (["py", "-W", "error", "-c", "code", "-OO"], ["py", "-W", "error", "-c", "code", "-OO"]),
    (["py", "-I", "-S", "/v/lxcri/_launch.py", "--help"],
     ["py", "-I", "-S", "/v/lxcri/_launch.py", "--help"]),
    # lxcri._boot's slim byte code as the script (the launcher's boot_byte_code): its
    # code has no docstrings, so the source script takes its place
    (["py", "-I", "-S", "-OO", "-X", "no_debug_ranges",
      "/v/lxcri/__pycache__/_boot.cpython-311.opt-2.pyc", "/v/bin/lxcri", "--help"],
     ["py", "-I", "-S", "/v/lxcri/_launch.py", "/v/bin/lxcri", "--help"]),
    (["py", "-I", "-S", "/v/lxcri/__pycache__/_boot.cpython-311.pyc", "/v/bin/lxcri", "x"],
     ["py", "-I", "-S", "/v/lxcri/__pycache__/_boot.cpython-311.pyc", "/v/bin/lxcri", "x"]),
    (["py", "-OO", "-c", "/v/lxcri/__pycache__/_boot.cpython-311.opt-2.pyc"],
     ["py", "-c", "/v/lxcri/__pycache__/_boot.cpython-311.opt-2.pyc"]),
])
def test_the_slim_flags_come_off_only_the_interpreters_options(orig: list[str],
                                                                expected: list[str]) -> None:
    """What the typer fallback runs again: the interpreter's -OO and -X no_debug_ranges
    go, and nothing of the script's, module's or code's own argv."""
    assert entry.without_slim_flags(orig) == expected
