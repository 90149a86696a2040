"""The one grammar read two ways: engine argv make the expected call, and the fast parser and the typer app agree.

Each argv runs through both paths (lxcri.cli.fast and the typer app generated
in lxcri.cli.app) with the command functions of lxcri.commands replaced by a
recording test double, and the calls they make are compared: with a golden
table of the argv engines really pass, with how the reading rules resolve a
few tricky argv, and with argv generated from the grammar itself (every option
of every command in every spelling, and a random corpus).
"""
from __future__ import annotations

import inspect
import random
from typing import Any

import pytest

from cli_support import Call, RecordingCommands, opts, recorder, seals, via_fast, via_typer  # noqa: F401  (fixtures)
from lxcri import __main__ as entry
from lxcri import commands
from lxcri.cli import fast, grammar
from lxcri.commands import GlobalOptions

# What each command gets for the options not given; stated here, apart from the
# grammar, so that changing a default engines rely on fails a test.
CREATE_DEFAULTS: dict[str, Any] = {
    "bundle": None, "config": "config.json", "pid_file": None, "console_socket": None, "preserve_fds": 0,
    "no_pivot": False, "no_new_keyring": False, "no_subreaper": False, "runtime": None}
EXEC_DEFAULTS: dict[str, Any] = {
    "process": None, "detach": False, "tty": False, "console_socket": None, "pid_file": None, "cwd": None,
    "env": [], "user": None, "caps": [], "no_new_privs": False, "preserve_fds": 0}
UPDATE_DEFAULTS: dict[str, Any] = dict.fromkeys((
    "resources", "memory", "memory_reservation", "memory_swap", "cpu_shares", "cpu_quota", "cpu_period",
    "cpu_rt_runtime", "cpu_rt_period", "cpuset_cpus", "cpuset_mems", "pids_limit", "blkio_weight"))


def create_call(options: GlobalOptions, cid: str, **given: Any) -> Call:
    return ("create", {"options": options, "container_id": cid, **CREATE_DEFAULTS, **given})


def run_call(options: GlobalOptions, cid: str, **given: Any) -> Call:
    return ("run", {"options": options, "container_id": cid, **CREATE_DEFAULTS, "detach": False, "keep": False,
                    **given})


def exec_call(options: GlobalOptions, cid: str, command: list[str], **given: Any) -> Call:
    return ("exec_process", {"options": options, "container_id": cid, "command": command, **EXEC_DEFAULTS,
                             **given})


def kill_call(options: GlobalOptions, cid: str, signal: str = "TERM", all_processes: bool = False) -> Call:
    return ("kill", {"options": options, "container_id": cid, "signal": signal, "all_processes": all_processes})


def delete_call(options: GlobalOptions, cid: str, force: bool = False, regex: bool = False) -> Call:
    return ("delete", {"options": options, "container_id": cid, "force": force, "regex": regex})


def id_call(function: str, options: GlobalOptions, cid: str) -> Call:
    return (function, {"options": options, "container_id": cid})


def update_call(options: GlobalOptions, cid: str, **given: Any) -> Call:
    return ("update", {"options": options, "container_id": cid, **UPDATE_DEFAULTS, **given})


SHIM_ROOT = "/run/containerd/runc/default"
SHIM = ["--root", SHIM_ROOT, "--log", "/b/log.json", "--log-format", "json"]
shim = opts(SHIM_ROOT, log="/b/log.json", log_format="json")

# The golden table: argv engines really pass ("What engines pass to a
# runtime"), each with the one call it must make. Every one of them must take
# the fast path, never typer.
ENGINE_ARGV: list[tuple[list[str], Call]] = [
    # conmon (podman)
    (["--log-format=json", "--log", "/x/oci-log", "create", "--bundle", "B", "--pid-file", "P",
      "--console-socket", "S", "--preserve-fds", "2", "ID"],
     create_call(opts(log="/x/oci-log", log_format="json"), "ID", bundle="B", pid_file="P", console_socket="S",
                 preserve_fds=2)),
    (["--cgroup-manager", "disabled", "--log-format=json", "--log", "L", "create", "--bundle", "B",
      "--pid-file", "P", "ID"],
     create_call(opts(log="L", log_format="json", cgroup_manager="disabled"), "ID", bundle="B", pid_file="P")),
    (["--systemd-cgroup", "--log", "L", "--log-format", "json", "create", "--bundle", "B", "--pid-file", "P",
      "ID"],
     create_call(opts(log="L", log_format="json", cgroup_manager="systemd"), "ID", bundle="B", pid_file="P")),
    (["exec", "--pid-file", "P", "--process", "F", "--detach", "--tty", "--console-socket", "S", "ID"],
     exec_call(opts(), "ID", [], pid_file="P", process="F", detach=True, tty=True, console_socket="S")),
    (["exec", "--pid-file", "P", "--process", "F", "--detach", "ID"],
     exec_call(opts(), "ID", [], pid_file="P", process="F", detach=True)),
    # podman itself
    (["start", "ID"], id_call("start", opts(), "ID")),
    (["kill", "ID", "15"], kill_call(opts(), "ID", "15")),
    (["kill", "ID", "9"], kill_call(opts(), "ID", "9")),
    (["kill", "--all", "ID", "15"], kill_call(opts(), "ID", "15", all_processes=True)),
    (["pause", "ID"], id_call("pause", opts(), "ID")),
    (["resume", "ID"], id_call("resume", opts(), "ID")),
    (["delete", "--force", "ID"], delete_call(opts(), "ID", force=True)),
    (["--version"], ("version", {"options": opts()})),
    # containerd's runc shim, and older engines without the --log flags
    ([*SHIM, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "ID"],
     create_call(shim, "ID", bundle="/b", pid_file="/b/init.pid")),
    ([*SHIM, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket", "/s.sock", "ID"],
     create_call(shim, "ID", bundle="/b", pid_file="/b/init.pid", console_socket="/s.sock")),
    ([*SHIM, "start", "ID"], id_call("start", shim, "ID")),
    ([*SHIM, "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/p", "ID"],
     exec_call(shim, "ID", [], process="/tmp/p.json", detach=True, pid_file="/p")),
    ([*SHIM, "ps", "--format", "json", "ID"], ("ps", {"options": shim, "container_id": "ID",
                                                      "output_format": "json"})),
    ([*SHIM, "kill", "ID", "9"], kill_call(shim, "ID", "9")),
    ([*SHIM, "delete", "ID"], delete_call(shim, "ID")),
    ([*SHIM, "delete", "--force", "ID"], delete_call(shim, "ID", force=True)),
    ([*SHIM, "pause", "ID"], id_call("pause", shim, "ID")),
    ([*SHIM, "resume", "ID"], id_call("resume", shim, "ID")),
    ([*SHIM, "update", "--resources", "-", "ID"], update_call(shim, "ID", resources="-")),
    (["--root", SHIM_ROOT, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc"],
     create_call(opts(SHIM_ROOT), "abc", bundle="/b", pid_file="/b/init.pid")),
    (["create", "--bundle", "/B", "--pid-file", "/P", "ID1"], create_call(opts(), "ID1", bundle="/B", pid_file="/P")),
    (["kill", "ID1"], kill_call(opts(), "ID1")),
    # crun's own test suite
    (["--cgroup-manager", "cgroupfs", "--root", "R", "run", "--config", "/c/config.json", "--preserve-fds", "1",
      "ID"],
     run_call(opts("R", cgroup_manager="cgroupfs"), "ID", config="/c/config.json", preserve_fds=1)),
    (["exec", "--cap", "CAP_SYS_ADMIN", "-e", "FOO=bar", "--user", "1:1", "ID", "sh", "-c", "x"],
     exec_call(opts(), "ID", ["sh", "-c", "x"], caps=["CAP_SYS_ADMIN"], env=["FOO=bar"], user="1:1")),
    (["delete", "-f", "--regex", "test-.*"], delete_call(opts(), "test-.*", force=True, regex=True)),
]

# How the reading rules resolve argv beyond one option at a time: what the
# global options normalize to, defaults, clusters, `--`, options after the ID,
# the last value winning, exec's command taking the rest.
READ_AS: list[tuple[list[str], Call]] = [
    (["--debug", "-v"], ("version", {"options": opts(debug=True)})),
    (["-v", "--debug"], ("version", {"options": opts(debug=True)})),
    (["--root=/r", "--debug", "state", "c1"], id_call("state", opts("/r", True), "c1")),
    (["--log", "file:/var/log/x.json", "state", "c1"], id_call("state", opts(log="/var/log/x.json"), "c1")),
    (["--log=file:rel", "--log-format=text", "state", "c1"], id_call("state", opts(log="rel"), "c1")),
    (["--log-level", "warn", "state", "c1"], id_call("state", opts(log_level="warning"), "c1")),
    (["--cgroup-manager=systemd", "state", "c1"], id_call("state", opts(cgroup_manager="systemd"), "c1")),
    (["--systemd-cgroup", "--cgroup-manager", "cgroupfs", "state", "c1"],
     id_call("state", opts(cgroup_manager="cgroupfs"), "c1")),
    (["--rootless", "auto", "--rootless=false", "state", "c1"], id_call("state", opts(), "c1")),
    (["--root", "/a", "--root", "/b", "list", "--quiet"],
     ("list_containers", {"options": opts("/b"), "output_format": "table", "quiet": True})),
    (["run", "c1"], run_call(opts(), "c1")),
    (["run", "-d", "-b", "/b", "-f", "c.json", "--pid-file=/p", "c1"],
     run_call(opts(), "c1", bundle="/b", config="c.json", pid_file="/p", detach=True)),
    (["run", "-db/b", "c1"], run_call(opts(), "c1", bundle="/b", detach=True)),
    (["run", "--runtime=crun", "--runtime", "runc", "c1"], run_call(opts(), "c1", runtime="runc")),
    (["create", "c1", "--bundle", "/late"], create_call(opts(), "c1", bundle="/late")),
    (["create", "--", "-odd-id"], create_call(opts(), "-odd-id")),
    (["create", "--preserve-fds=007", "--no-pivot", "c1"], create_call(opts(), "c1", preserve_fds=7, no_pivot=True)),
    (["exec", "-dt", "-e", "A=1", "--env=B=2", "-eC=3", "-c", "CAP_KILL", "--cap", "CAP_CHOWN", "--cwd", "/w",
      "-u", "0", "--no-new-privs", "--preserve-fds", "3", "c1", "ls", "-l", "--", "-d"],
     exec_call(opts(), "c1", ["ls", "-l", "--", "-d"], detach=True, tty=True, env=["A=1", "B=2", "C=3"],
               caps=["CAP_KILL", "CAP_CHOWN"], cwd="/w", user="0", no_new_privs=True, preserve_fds=3)),
    (["exec", "c1", "--tty", "--help"], exec_call(opts(), "c1", ["--tty", "--help"])),
    (["exec", "--", "c1", "true"], exec_call(opts(), "c1", ["true"])),
    (["exec", "c1"], exec_call(opts(), "c1", [])),
    (["kill", "c1", "KILL", "--all"], kill_call(opts(), "c1", "KILL", all_processes=True)),
    (["delete", "-rf", "^a"], delete_call(opts(), "^a", force=True, regex=True)),
    (["list"], ("list_containers", {"options": opts(), "output_format": "table", "quiet": False})),
    (["list", "-qf", "json"], ("list_containers", {"options": opts(), "output_format": "json", "quiet": True})),
    (["ps", "c1"], ("ps", {"options": opts(), "container_id": "c1", "output_format": "table"})),
    (["update", "c1", "--pids-limit", "5"], update_call(opts(), "c1", pids_limit="5")),
    (["spec"], ("spec", {"options": opts(), "bundle": None, "rootless": False})),
    (["features"], ("features", {"options": opts()})),
    (["info"], ("info", {"options": opts(), "output_format": "text"})),
]

# Odd argv both paths must read alike; what they mean is left to parity.
ODD_ARGV: list[list[str]] = [
    ["create", "-b=/b", "c1"], ["create", "--bundle", "--debug", "c1"], ["create", "-b", "--", "c1"],
    ["create", "--bundle=", "c1"], ["create", "--console-socket", "--no-pivot", "c1"], ["--", "state", "c1"],
    ["state", ""], ["state", "-"], ["kill", "--", "c1", "-9"], ["kill", "-a", "--", "c1", "-9"],
    ["delete", "-f", "-f", "c1"], ["pause", "--", "-c"], ["exec", "c1", "-"], ["exec", "-", "c1"],
    ["exec", "-t", "-p", "-", "c1"], ["exec", "-ea", "c1", "x"], ["exec", "-e", "-p", "c1", "x"],
    ["exec", "c1", "--", "x"], ["exec", "--", "--", "c1"], ["exec", "-pf", "c1"], ["update", "-r-", "c1"],
    ["update", "c1", "--memory", "-1"], ["update", "--cpuset-cpus=", "c1"], ["update", "--memory", "--memory", "c1"],
    ["features", "--"], ["-V"], ["--version", "create"], ["--version", "state", "--bogus"], ["-vV"],
    ["--version", "features"], ["--log", "--log-format", "state", "c1"], ["--log=", "state", "c1"],
    ["--cgroup-manager", "disabled", "--systemd-cgroup", "list"],
    ["--log-format", "text", "--log-format", "json", "list"],
]


def _ids(cases: list[tuple[list[str], Call]]) -> list[str]:
    return [" ".join(argv) for argv, _ in cases]


@pytest.mark.parametrize("argv,expected", ENGINE_ARGV + READ_AS, ids=_ids(ENGINE_ARGV + READ_AS))
def test_both_paths_make_the_expected_call(argv: list[str], expected: Call, recorder: RecordingCommands) -> None:
    assert via_fast(argv, recorder) == ([expected], 0)
    assert via_typer(argv, recorder) == ([expected], 0)


@pytest.mark.parametrize("argv,expected", ENGINE_ARGV, ids=_ids(ENGINE_ARGV))
def test_engine_argv_take_the_fast_path(argv: list[str], expected: Call, recorder: RecordingCommands,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The whole of main, with the typer path closed: what engines send never needs it."""
    def no_typer(argv: list[str]) -> int:
        pytest.fail(f"{argv} went to the typer app")

    monkeypatch.setattr(entry, "run_typer", no_typer)
    assert entry.main(argv) == 0
    assert recorder.take() == [expected]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("argv", ODD_ARGV, ids=[" ".join(a) for a in ODD_ARGV])
def test_both_paths_agree_on_odd_argv(argv: list[str], recorder: RecordingCommands) -> None:
    fast_result = via_fast(argv, recorder)
    assert len(fast_result[0]) == 1
    assert via_typer(argv, recorder) == fast_result


# --- argv generated from the grammar ------------------------------------------------------

def _sample(option: grammar.Option) -> list[str | None]:
    """Values to give the option: each of its choices, else one a parser could misread; None for a flag."""
    if option.choices:
        return list(option.choices)
    samples: dict[str, list[str | None]] = {grammar.COUNT: ["3"], grammar.REPEATED: ["A=1"], grammar.VALUE: ["/x=1"]}
    return samples.get(option.kind, [None])


def _spellings(option: grammar.Option, value: str | None) -> list[list[str]]:
    """Every way to write the option with value: `--opt v`, `--opt=v`, `-o v`, `-ov` (a flag: `--opt`, `-o`)."""
    written = []
    for spelling in option.spellings:
        if value is None:
            written.append([spelling])
        elif spelling.startswith("--"):
            written += [[spelling, value], [f"{spelling}={value}"]]
        else:
            written += [[spelling, value], [spelling + value]]
    return written


def _generated() -> list[tuple[list[str], Call]]:
    """Each option of each command, in each spelling and with each sample value, and the call it must make."""
    cases = []
    for command in grammar.COMMANDS.values():
        operands = {operand.keyword: f"c{n}" for n, operand in enumerate(command.operands) if operand.required}
        base: dict[str, Any] = {"options": opts(), **command.defaults, **operands}
        for option in command.repeated:
            base[option.keyword] = []
        if command.rest is not None:
            base[command.rest.keyword] = []
        for option in command.options:
            for value in _sample(option):
                for words in _spellings(option, value):
                    expected: Any = value
                    if value is None:
                        expected = True
                    elif option.kind == grammar.COUNT:
                        expected = int(value)
                    elif option.kind == grammar.REPEATED:
                        # Said twice, the option collects both values.
                        words, expected = [*words, *words], [value, value]
                    call = (command.function, {**base, option.keyword: expected})
                    cases.append(([command.name, *words, *operands.values()], call))
                    if operands and command.rest is None:
                        # A command's options may also follow its operands.
                        cases.append(([command.name, *operands.values(), *words], call))
    return cases


def _generated_globals() -> list[tuple[list[str], Call]]:
    """Each global option in each spelling, before a command, and the call it must make."""
    cases = []
    for option in grammar.GLOBALS.options:
        if option is grammar.VERSION:
            continue  # it makes no command call: see ENGINE_ARGV and READ_AS
        for value in _sample(option):
            # GlobalOptions normalizes the values itself; --rootless is accepted and ignored.
            given: dict[str, Any] = {} if option is grammar.GLOBAL_ROOTLESS else {
                option.keyword: True if value is None else value}
            for words in _spellings(option, value):
                cases.append(([*words, "state", "c1"], id_call("state", opts(**given), "c1")))
    return cases


GENERATED = _generated()
GENERATED_GLOBALS = _generated_globals()


@pytest.mark.parametrize("argv,expected", GENERATED, ids=_ids(GENERATED))
def test_every_option_in_every_spelling(argv: list[str], expected: Call, recorder: RecordingCommands) -> None:
    assert via_fast(argv, recorder) == ([expected], 0)
    assert via_typer(argv, recorder) == ([expected], 0)


@pytest.mark.parametrize("argv,expected", GENERATED_GLOBALS, ids=_ids(GENERATED_GLOBALS))
def test_every_global_option_in_every_spelling(argv: list[str], expected: Call, recorder: RecordingCommands) -> None:
    assert via_fast(argv, recorder) == ([expected], 0)
    assert via_typer(argv, recorder) == ([expected], 0)


def test_the_generated_argv_reach_every_spelling() -> None:
    """A test that cannot fail is a defect: the generated cases must cover the whole grammar."""
    corpus = [argv for argv, _ in GENERATED + GENERATED_GLOBALS + ENGINE_ARGV + READ_AS] + ODD_ARGV
    written = {word.partition("=")[0] if word.startswith("--") else word[:2] for argv in corpus for word in argv}
    for command in (grammar.GLOBALS, *grammar.COMMANDS.values()):
        for option in command.options:
            assert set(option.spellings) <= written, (command.name, option)
            for value in option.choices:
                assert any(value in argv or option.spellings[0] + "=" + value in argv
                           for argv in corpus), (command.name, option, value)
    assert len(GENERATED) > 100


def test_parsers_agree_on_random_command_lines(recorder: RecordingCommands,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the fast parser accepts, the typer app accepts with the same meaning."""
    heads = [[], ["--root", "/r"], ["--root=/s"], ["--debug"], ["--version"], ["-v"], ["--"], ["-x"],
             ["--log", "/l"], ["--log-format=json"], ["--log-format", "xml"], ["--systemd-cgroup"],
             ["--cgroup-manager", "disabled"], ["--cgroup-manager=bogus"], ["--log-level", "warn"],
             ["--rootless", "auto"], ["--log=file:/f"]]
    words = [*grammar.COMMANDS, "bogus"]
    spellings = sorted({spelling for command in grammar.COMMANDS.values() for spelling in command.table})
    tail = ["c1", "c2", "9", "KILL", "json", "table", "/b", "-", "--", "", "--bundle=/x", "--config=c.json",
            "--pid-file=/p", "--detach=1", "--format=json", "--format=yaml", "-fjson", "-db", "-qf", "-dq",
            "--debug", "--root", "-x", "--help", "-h", "-rf", "-dt", "A=1", "--env=B=2",
            "--preserve-fds=2", "3", "-1", "+4", "-r-", "512m", "--cpuset-cpus=0", "runc", "--runtime=lxc", "text",
            *spellings]
    rng = random.Random(20240611)
    accepted = 0
    for _ in range(4000):
        argv = rng.choice(heads) + [rng.choice(words)] + rng.choices(tail, k=rng.randint(0, 5))
        if fast.parse(argv) is None:
            continue
        accepted += 1
        fast_result = via_fast(argv, recorder)
        typer_result = via_typer(argv, recorder)
        assert typer_result == fast_result, argv
    capsys.readouterr()
    assert accepted > 500, "the random corpus should exercise the fast parser"


# --- the grammar against what it describes ------------------------------------------------

@pytest.mark.parametrize("command", [grammar.GLOBALS, *grammar.COMMANDS.values()], ids=lambda c: c.name)
def test_each_command_passes_exactly_its_functions_keywords(command: grammar.Command) -> None:
    function = getattr(commands, command.function)
    keywords = {name for name, parameter in inspect.signature(function).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    if command is grammar.GLOBALS:
        assert keywords == set()  # the global options are the GlobalOptions, not keywords
        return
    given = {option.keyword for option in command.options} | {operand.keyword for operand in command.operands}
    if command.rest is not None:
        given.add(command.rest.keyword)
    assert given == keywords


def test_update_spells_its_options_as_their_keywords() -> None:
    # lxcri.commands.update names an option in its messages after its keyword.
    for option in grammar.COMMANDS["update"].options:
        assert option.spellings[0] == "--" + option.keyword.replace("_", "-")
