"""Usage errors and help on the command line: what the fast parser leaves to typer, and what typer says about it.

Help and error messages come from the typer app generated from the grammar,
so they cover every command and option the fast parser reads.
"""
from __future__ import annotations

import pytest

from cli_support import RecordingCommands, recorder, seals  # noqa: F401  (fixtures)
from lxcri import __main__ as entry
from lxcri.cli import fast, grammar


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["-h"], ["create", "--help"], ["create", "-h"], ["state", "c1", "--help"],
    ["bogus"], ["--root", "/r"], ["--root"], ["--bogus", "state", "c1"],
    ["create"], ["create", "--bundle"], ["create", "--bogus", "c1"], ["create", "-x", "c1"],
    ["create", "-bx"], ["create", "c1", "c2"], ["kill", "a", "b", "c"], ["kill"],
    ["delete", "--force=yes", "c1"], ["delete", "--no-force", "c1"], ["list", "extra"],
    ["list", "--format", "yaml"], ["list", "--format"], ["--version", "bogus"], ["state", "c1", "-9"],
    ["start", "--", "a", "b"],
    ["--log"], ["--log-format", "xml", "list"], ["--log-level", "trace", "list"],
    ["--cgroup-manager", "bogus", "list"], ["--rootless", "maybe", "list"], ["--systemd-cgroup=1", "list"],
    ["create", "--preserve-fds", "x", "c1"], ["create", "--preserve-fds", "-1", "c1"],
    ["create", "--preserve-fds=+1", "c1"], ["run", "--keep=1", "c1"],
    ["exec"], ["exec", "-p"], ["exec", "-p", "f"], ["exec", "--help"], ["exec", "--bogus", "c1", "x"],
    ["exec", "--preserve-fds", "n", "c1", "x"], ["kill", "--all=1", "c1"], ["ps"], ["ps", "-f", "yaml", "c1"],
    ["ps", "c1", "c2"], ["pause"], ["resume", "a", "b"], ["update"], ["update", "--bogus", "1", "c1"],
    ["update", "--resources"], ["spec", "extra"], ["spec", "--rootless=1"], ["features", "x"],
    ["run", "--runtime", "-d", "c1"], ["create", "--runtime", "", "c1"], ["create", "--runtime=RUNC", "c1"],
    ["create", "--runtime", "docker", "c1"], ["info", "--format=table"], ["info", "extra"], ["info", "-f"],
])
def test_fast_parser_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv) is None


@pytest.mark.parametrize("argv", [
    ["create"], ["run", "-d"], ["start"], ["state"], ["kill"], ["delete", "-f"], ["bogus", "c1"],
    ["create", "--bogus", "c1"], ["list", "--format", "yaml"], ["delete", "--force=yes", "c1"],
    ["--root"], ["--root", "/r"], ["kill", "a", "b", "c"],
    ["--log-format", "xml", "list"], ["--cgroup-manager", "bogus", "list"], ["create", "--preserve-fds", "-1", "c1"],
    ["exec"], ["exec", "-p", "f"], ["ps", "-f", "yaml", "c1"], ["update"], ["features", "x"],
])
def test_typer_rejects_a_usage_error_in_one_line(argv: list[str], recorder: RecordingCommands,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = entry.main(argv)
    out, err = capsys.readouterr()
    assert code == 1, "usage errors exit 1, as crun's"
    assert recorder.calls == []
    assert out == ""
    assert err.startswith("lxcri: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv,shown", [
    (["create", "--help"], ["--bundle", "--pid-file", "--console-socket", "--preserve-fds", "--no-pivot"]),
    (["exec", "--help"], ["--process", "--tty", "--env", "--cap", "--user", "--cwd", "--no-new-privs"]),
    (["update", "--help"], ["--resources", "--memory", "--cpu-quota", "--pids-limit", "--blkio-weight"]),
    (["--help"], ["--log-format", "--cgroup-manager", "--systemd-cgroup", "ps", "pause", "features"]),
])
def test_help_goes_to_typer_and_exits_zero(argv: list[str], shown: list[str], recorder: RecordingCommands,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(argv) == 0
    out, _ = capsys.readouterr()
    assert all(option in out for option in shown), out
    assert recorder.calls == []


@pytest.mark.parametrize("command", [grammar.GLOBALS, *grammar.COMMANDS.values()], ids=lambda c: c.name)
def test_help_shows_every_option_of_the_grammar(command: grammar.Command, recorder: RecordingCommands,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich would wrap or cut a long line of help
    argv = ["--help"] if command is grammar.GLOBALS else [command.name, "--help"]
    assert entry.main(argv) == 0
    out = capsys.readouterr().out
    for option in command.options:
        assert all(spelling in out for spelling in option.spellings), (option, out)
        assert option.help.split()[0] in out, (option, out)
        assert all(choice in out for choice in option.choices), (option, out)
    for operand in command.operands:
        assert operand.metavar in out, (operand, out)
    if command is grammar.GLOBALS:
        assert all(name in out for name in grammar.COMMANDS), out
    assert recorder.calls == []


@pytest.mark.parametrize("argv,message", [
    (["creat", "c1"], "lxcri: No such command 'creat'. Did you mean 'create'?"),
    (["create", "--bundel", "/b", "c1"], "lxcri: No such option: --bundel (Possible options: --bundle)."),
    (["list", "--format", "yaml"], "lxcri: Invalid value for '--format' / '-f': "),
    (["create", "--runtime", "docker", "c1"], "lxcri: Invalid value for '--runtime': "),
    (["create"], "lxcri: Missing argument 'ID'. Try 'lxcri create --help'."),
    (["delete", "--force=yes", "c1"], "lxcri: Option '--force' does not take a value."),
    (["--root"], "lxcri: Option '--root' requires an argument."),
])
def test_typer_names_the_mistake(argv: list[str], message: str, recorder: RecordingCommands,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Typos get a suggestion from the grammar's spellings; a bad choice names the option."""
    assert entry.main(argv) == 1
    assert capsys.readouterr().err.startswith(message)
    assert recorder.calls == []
