"""Tests of lxcri's command-line layer without root: the fast parser and the typer app must agree, errors stay one line.

The parity tests run each argv through both parsers (lxcri.cli.fast and the
typer app in lxcri.cli.app) with the command functions of lxcri.commands replaced
by a recording test double, and compare the calls they make.
"""
from __future__ import annotations

import builtins
import inspect
import io
import json
import os
import random
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from lxcri import __main__ as entry
from lxcri import cli, commands
from lxcri.cli import fast
from lxcri.commands import GlobalOptions
from lxcri.errors import ContainerNotFound, InvalidArgument

# Where the lxcri under test lives (the source tree or site-packages): the
# subprocess checks import that one too.
LXCRI_HOME = os.path.dirname(os.path.dirname(os.path.abspath(commands.__file__)))

COMMAND_FUNCTIONS = ("create", "start", "state", "kill", "delete", "run", "exec_process", "list_containers", "ps",
                     "pause", "resume", "update", "spec", "features", "info", "version")

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

    The real one re-executes the process: here that would be pytest itself.
    """
    made: list[int] = []
    monkeypatch.setattr(entry, "seal", lambda: made.append(1))
    return made


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingCommands:
    return RecordingCommands(monkeypatch)


def via_fast(argv: list[str], recorder: RecordingCommands) -> tuple[list[Call], int]:
    invocation = fast.parse(argv)
    assert invocation is not None, f"the fast parser should understand {argv}"
    code = entry.run_invocation(invocation)
    return recorder.take(), code


def via_typer(argv: list[str], recorder: RecordingCommands) -> tuple[list[Call], int]:
    code = cli.main(list(argv))
    return recorder.take(), code


def opts(root: str = commands.DEFAULT_ROOT, debug: bool = False, **more: Any) -> GlobalOptions:
    return GlobalOptions(root=root, debug=debug, **more)


# What each command gets for the options not given; stated here, apart from
# both parsers, so that a default changed in one place fails a test.
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

# Each argv with the one call it must turn into. The engines' argv from
# DESIGN.md ("What engines pass to a runtime") come first: every one of them
# must be read by the fast parser (via_fast asserts it), never by typer.
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
    # containerd's runc shim
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
    # crun's own test suite
    (["--cgroup-manager", "cgroupfs", "--root", "R", "run", "--config", "/c/config.json", "--preserve-fds", "1",
      "ID"],
     run_call(opts("R", cgroup_manager="cgroupfs"), "ID", config="/c/config.json", preserve_fds=1)),
    (["exec", "--cap", "CAP_SYS_ADMIN", "-e", "FOO=bar", "--user", "1:1", "ID", "sh", "-c", "x"],
     exec_call(opts(), "ID", ["sh", "-c", "x"], caps=["CAP_SYS_ADMIN"], env=["FOO=bar"], user="1:1")),
    (["delete", "-f", "--regex", "test-.*"], delete_call(opts(), "test-.*", force=True, regex=True)),
]

EXPECTED: list[tuple[list[str], Call]] = ENGINE_ARGV + [
    # the older engine argv, without the --log flags
    (["--root", SHIM_ROOT, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc"],
     create_call(opts(SHIM_ROOT), "abc", bundle="/b", pid_file="/b/init.pid")),
    (["create", "--bundle", "/B", "--pid-file", "/P", "ID1"], create_call(opts(), "ID1", bundle="/B", pid_file="/P")),
    (["kill", "ID1"], kill_call(opts(), "ID1")),
    # the global options
    (["--root=/r", "--debug", "state", "c1"], id_call("state", opts("/r", True), "c1")),
    (["--debug", "-v"], ("version", {"options": opts(debug=True)})),
    (["-v", "--debug"], ("version", {"options": opts(debug=True)})),
    (["--log", "file:/var/log/x.json", "state", "c1"], id_call("state", opts(log="/var/log/x.json"), "c1")),
    (["--log=file:rel", "--log-format=text", "state", "c1"], id_call("state", opts(log="rel"), "c1")),
    (["--log-level", "warn", "state", "c1"], id_call("state", opts(log_level="warning"), "c1")),
    (["--log-level=debug", "state", "c1"], id_call("state", opts(log_level="debug"), "c1")),
    (["--cgroup-manager=systemd", "state", "c1"], id_call("state", opts(cgroup_manager="systemd"), "c1")),
    (["--systemd-cgroup", "--cgroup-manager", "cgroupfs", "state", "c1"],
     id_call("state", opts(cgroup_manager="cgroupfs"), "c1")),
    (["--rootless", "auto", "--rootless=false", "state", "c1"], id_call("state", opts(), "c1")),
    # run and create
    (["run", "-d", "-b", "/b", "-f", "c.json", "--pid-file=/p", "c1"],
     run_call(opts(), "c1", bundle="/b", config="c.json", pid_file="/p", detach=True)),
    (["run", "c1"], run_call(opts(), "c1")),
    (["run", "-db/b", "c1"], run_call(opts(), "c1", bundle="/b", detach=True)),
    (["run", "--keep", "--no-pivot", "--no-new-keyring", "--no-subreaper", "--console-socket=/s", "c1"],
     run_call(opts(), "c1", keep=True, no_pivot=True, no_new_keyring=True, no_subreaper=True,
              console_socket="/s")),
    (["create", "c1", "--bundle", "/late"], create_call(opts(), "c1", bundle="/late")),
    (["create", "--", "-odd-id"], create_call(opts(), "-odd-id")),
    (["create", "--preserve-fds=007", "--no-pivot", "c1"], create_call(opts(), "c1", preserve_fds=7, no_pivot=True)),
    (["create", "--runtime", "runc", "-b", "/b", "c1"], create_call(opts(), "c1", bundle="/b", runtime="runc")),
    (["create", "c1", "--runtime=lxc"], create_call(opts(), "c1", runtime="lxc")),
    (["run", "--runtime", "vm", "-d", "c1"], run_call(opts(), "c1", runtime="vm", detach=True)),
    (["run", "--runtime=crun", "--runtime", "runc", "c1"], run_call(opts(), "c1", runtime="runc")),
    # info
    (["info"], ("info", {"options": opts(), "output_format": "text"})),
    (["--root", "/r", "info", "--format", "json"], ("info", {"options": opts("/r"), "output_format": "json"})),
    (["info", "-fjson"], ("info", {"options": opts(), "output_format": "json"})),
    # exec
    (["exec", "-p", "/p.json", "c1"], exec_call(opts(), "c1", [], process="/p.json")),
    (["exec", "-dt", "-e", "A=1", "--env=B=2", "-eC=3", "-c", "CAP_KILL", "--cap", "CAP_CHOWN", "--cwd", "/w",
      "-u", "0", "--no-new-privs", "--preserve-fds", "3", "c1", "ls", "-l", "--", "-d"],
     exec_call(opts(), "c1", ["ls", "-l", "--", "-d"], detach=True, tty=True, env=["A=1", "B=2", "C=3"],
               caps=["CAP_KILL", "CAP_CHOWN"], cwd="/w", user="0", no_new_privs=True, preserve_fds=3)),
    (["exec", "c1", "--tty", "--help"], exec_call(opts(), "c1", ["--tty", "--help"])),
    (["exec", "--", "c1", "true"], exec_call(opts(), "c1", ["true"])),
    (["exec", "c1"], exec_call(opts(), "c1", [])),
    # the other commands
    (["kill", "-a", "c1"], kill_call(opts(), "c1", all_processes=True)),
    (["kill", "c1", "KILL", "--all"], kill_call(opts(), "c1", "KILL", all_processes=True)),
    (["delete", "-rf", "^a"], delete_call(opts(), "^a", force=True, regex=True)),
    (["list"], ("list_containers", {"options": opts(), "output_format": "table", "quiet": False})),
    (["list", "-qf", "json"], ("list_containers", {"options": opts(), "output_format": "json", "quiet": True})),
    (["list", "--format=json"], ("list_containers", {"options": opts(), "output_format": "json", "quiet": False})),
    (["--root", "/a", "--root", "/b", "list", "--quiet"],
     ("list_containers", {"options": opts("/b"), "output_format": "table", "quiet": True})),
    (["ps", "c1"], ("ps", {"options": opts(), "container_id": "c1", "output_format": "table"})),
    (["ps", "-fjson", "c1"], ("ps", {"options": opts(), "container_id": "c1", "output_format": "json"})),
    (["update", "-r", "/r.json", "--memory", "1g", "--memory-reservation=512m", "--memory-swap", "-1",
      "--cpu-shares", "512", "--cpu-quota", "-1", "--cpu-period", "100000", "--cpu-rt-runtime", "950",
      "--cpu-rt-period", "1000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "100",
      "--blkio-weight", "300", "c1"],
     update_call(opts(), "c1", resources="/r.json", memory="1g", memory_reservation="512m", memory_swap="-1",
                 cpu_shares="512", cpu_quota="-1", cpu_period="100000", cpu_rt_runtime="950",
                 cpu_rt_period="1000", cpuset_cpus="0-1", cpuset_mems="0", pids_limit="100",
                 blkio_weight="300")),
    (["update", "c1", "--pids-limit", "5"], update_call(opts(), "c1", pids_limit="5")),
    (["spec"], ("spec", {"options": opts(), "bundle": None, "rootless": False})),
    (["spec", "-b", "/b", "--rootless"], ("spec", {"options": opts(), "bundle": "/b", "rootless": True})),
    (["features"], ("features", {"options": opts()})),
    (["--log", "/l", "--log-format", "json", "features"],
     ("features", {"options": opts(log="/l", log_format="json")})),
]

# More argv both parsers must read alike; what they mean is left to parity.
MORE_ARGV: list[list[str]] = [
    ["create", "-b", "/b", "c1"], ["create", "-b/b", "c1"], ["create", "-b=/b", "c1"],
    ["create", "--bundle=/b", "--config=x.json", "c1"], ["create", "--config", "x.json", "c1"],
    ["create", "-f", "x.json", "--pid-file", "/p", "c1"], ["create", "--bundle", "--debug", "c1"],
    ["create", "-b", "--", "c1"], ["create", "--bundle=", "c1"], ["create", "c1", "-b", "/b", "-f", "y"],
    ["create", "--preserve-fds", "0", "c1"], ["create", "--console-socket", "--no-pivot", "c1"],
    ["--debug", "create", "c1"], ["--", "state", "c1"], ["state", ""], ["state", "-"],
    ["kill", "c1", "KILL"], ["kill", "c1", "SIGKILL"], ["kill", "--", "c1", "-9"], ["kill", "-a", "--", "c1", "-9"],
    ["delete", "-f", "c1"], ["delete", "c1", "-f"], ["delete", "-f", "-f", "c1"], ["delete", "c1"],
    ["delete", "--regex", "c1"], ["delete", "-r", "--force", "c"],
    ["run", "--detach", "c1"], ["run", "c1", "-d"], ["run", "-d", "--bundle=/b", "c1", "--config", "k"],
    ["run", "--keep", "-d", "c1", "--preserve-fds=2"],
    ["exec", "c1", "-"], ["exec", "-", "c1"], ["exec", "-t", "-p", "-", "c1"], ["exec", "-ea", "c1", "x"],
    ["exec", "-e", "-p", "c1", "x"], ["exec", "c1", "--", "x"], ["exec", "--", "--", "c1"],
    ["exec", "--user=1000:1000", "c1", "id"], ["exec", "-pf", "c1"], ["exec", "--preserve-fds=12", "c1", "x"],
    ["list", "-q"], ["list", "--quiet", "--format", "table"], ["list", "-f", "json", "-q"], ["list", "-fjson"],
    ["ps", "--format=table", "c1"], ["ps", "c1", "-f", "json"], ["pause", "--", "-c"], ["resume", "c1"],
    ["update", "--resources", "-", "c1"], ["update", "-r-", "c1"], ["update", "c1", "--memory", "-1"],
    ["update", "--cpuset-cpus=", "c1"], ["update", "--memory", "--memory", "c1"],
    ["spec", "--bundle=/x"], ["spec", "--rootless", "-b", "y"], ["features", "--"],
    ["info", "-f", "text"], ["create", "c1", "--runtime", "runc", "-b", "/b"],
    ["-V"], ["--version", "create"], ["--version", "state", "--bogus"], ["-vV"], ["--version", "features"],
    ["--log", "--log-format", "state", "c1"], ["--log=", "state", "c1"], ["--log-level=error", "list"],
    ["--systemd-cgroup", "list"], ["--cgroup-manager", "disabled", "--systemd-cgroup", "list"],
    ["--rootless=true", "list"], ["--log-format", "text", "--log-format", "json", "list"],
]


@pytest.mark.parametrize("argv,expected", EXPECTED, ids=[" ".join(a) for a, _ in EXPECTED])
def test_both_parsers_make_the_expected_call(argv: list[str], expected: Call,
                                             recorder: RecordingCommands) -> None:
    assert via_fast(argv, recorder) == ([expected], 0)
    assert via_typer(argv, recorder) == ([expected], 0)


@pytest.mark.parametrize("argv,expected", ENGINE_ARGV, ids=[" ".join(a) for a, _ in ENGINE_ARGV])
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


@pytest.mark.parametrize("argv", MORE_ARGV, ids=[" ".join(a) for a in MORE_ARGV])
def test_both_parsers_agree(argv: list[str], recorder: RecordingCommands) -> None:
    fast_result = via_fast(argv, recorder)
    assert len(fast_result[0]) == 1
    assert via_typer(argv, recorder) == fast_result


def test_parsers_agree_on_random_command_lines(recorder: RecordingCommands,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the fast parser accepts, the typer app accepts with the same meaning."""
    heads = [[], ["--root", "/r"], ["--root=/s"], ["--debug"], ["--version"], ["-v"], ["--"], ["-x"],
             ["--log", "/l"], ["--log-format=json"], ["--log-format", "xml"], ["--systemd-cgroup"],
             ["--cgroup-manager", "disabled"], ["--cgroup-manager=bogus"], ["--log-level", "warn"],
             ["--rootless", "auto"], ["--log=file:/f"]]
    words = ["create", "start", "state", "kill", "delete", "run", "list", "exec", "ps", "pause", "resume",
             "update", "spec", "features", "info", "bogus"]
    tail = ["c1", "c2", "9", "KILL", "json", "table", "/b", "-", "--", "", "-b", "--bundle", "--bundle=/x",
            "-f", "--config=c.json", "--pid-file", "--pid-file=/p", "-d", "--detach", "--detach=1", "--force",
            "-q", "--quiet", "--format", "--format=json", "--format=yaml", "-fjson", "-db", "-qf", "-dq",
            "--debug", "--root", "-x", "--help", "-h", "-a", "--all", "-r", "--regex", "-rf", "-p", "--process",
            "-t", "-dt", "-e", "A=1", "--env=B=2", "-c", "--cap", "-u", "--user", "--cwd", "--no-new-privs",
            "--preserve-fds", "--preserve-fds=2", "3", "-1", "+4", "--console-socket", "--no-pivot", "--keep",
            "--no-new-keyring", "--no-subreaper", "--resources", "-r-", "--memory", "512m", "--pids-limit",
            "--cpuset-cpus=0", "--rootless", "--runtime", "runc", "--runtime=lxc", "text"]
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


# --- the entry point ---------------------------------------------------------------

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
    def refuse() -> None:
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


# --- the command bodies, with a fake runtime ------------------------------------

class FakeRuntime:
    """TEST DOUBLE for lxcri.runtime.Runtime: canned states and pids, records what is asked of it.

    `failures` maps a container id to the error its delete raises; kill
    refuses the signal NOPE; exec returns `exec_code`.
    """

    def __init__(self, states: list[SimpleNamespace]) -> None:
        self.states = states
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False
        self.failures: dict[str, Exception] = {}
        self.exec_code = 0

    def list(self) -> list[SimpleNamespace]:
        return self.states

    def state_json(self, container_id: str) -> str:
        return json.dumps({"ociVersion": "1.0.0", "id": container_id}, indent=4)

    def kill(self, container_id: str, signal: str = "TERM", *, all: bool = False) -> None:
        self.calls.append(("kill", container_id, signal, all))
        if signal == "NOPE":
            raise InvalidArgument(f"unknown signal '{signal}'")

    def delete(self, container_id: str, force: bool = False) -> None:
        self.calls.append(("delete", container_id, force))
        if container_id in self.failures:
            raise self.failures[container_id]

    def ps(self, container_id: str) -> builtins.list[int]:  # `list` is a method here
        self.calls.append(("ps", container_id))
        return [21330, 21401]

    def pause(self, container_id: str) -> None:
        self.calls.append(("pause", container_id))

    def resume(self, container_id: str) -> None:
        self.calls.append(("resume", container_id))

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        self.calls.append(("update", container_id, resources))

    def exec(self, container_id: str, **kwargs: Any) -> int:
        self.calls.append(("exec", container_id, kwargs))
        return self.exec_code

    def create_container(self, container_id: str, bundle: str | None, **kwargs: Any) -> None:
        self.calls.append(("create_container", container_id, bundle, kwargs))

    def run(self, container_id: str, bundle: str | None, **kwargs: Any) -> int:
        self.calls.append(("run", container_id, bundle, kwargs))
        return 0

    def close(self) -> None:
        self.closed = True


def container(cid: str, pid: int, status: str, runtime: str = "crun") -> SimpleNamespace:
    return SimpleNamespace(id=cid, pid=pid, status=status, bundle="/tmp/cliref",
                           created="2026-11-23T13:01:45.691584Z", owner="root", runtime=runtime)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime([container("ref1", 21330, "running"),
                        container("a-much-longer-container-name-here", 21332, "created", "runc"),
                        container("gone", 4242, "stopped", "lxc")])
    monkeypatch.setattr(commands, "open_runtime", lambda options: fake)
    return fake


def test_list_table_lays_out_columns_as_crun(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    # The layout `crun list` printed on this machine for the first two.
    assert entry.main(["list"]) == 0
    assert capsys.readouterr().out == (
        "NAME                              PID       STATUS   BUNDLE PATH                             CREATED"
        "                        OWNER RUNTIME\n"
        "ref1                              21330     running  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root  crun\n"
        "a-much-longer-container-name-here 21332     created  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root  runc\n"
        "gone                              0         stopped  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root  lxc\n")
    assert runtime.closed


def test_list_of_nothing_is_a_header(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "open_runtime", lambda options: FakeRuntime([]))
    assert entry.main(["list"]) == 0
    assert capsys.readouterr().out == ("NAME PID       STATUS   BUNDLE PATH                             "
                                       "CREATED                        OWNER RUNTIME\n")
    assert entry.main(["list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_list_json_and_quiet(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["list", "-f", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [sorted(entry) for entry in listed] == [
        sorted(["id", "pid", "status", "bundle", "created", "owner", "runtime"])] * 3
    assert [e["runtime"] for e in listed] == ["crun", "runc", "lxc"]
    assert [(e["id"], e["pid"], e["status"]) for e in listed] == [
        ("ref1", 21330, "running"), ("a-much-longer-container-name-here", 21332, "created"), ("gone", 0, "stopped")]
    assert entry.main(["list", "-q"]) == 0
    assert capsys.readouterr().out == "ref1\na-much-longer-container-name-here\ngone\n"


def test_state_prints_the_json_with_a_final_newline(runtime: FakeRuntime,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["state", "c9"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("}\n") and json.loads(out)["id"] == "c9"


def test_runtime_error_is_one_line_and_its_exit_code(runtime: FakeRuntime,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["kill", "c1", "NOPE"]) == 1
    assert capsys.readouterr() == ("", "lxcri: unknown signal 'NOPE'\n")
    assert runtime.calls == [("kill", "c1", "NOPE", False)] and runtime.closed


def test_kill_all_signals_every_process(runtime: FakeRuntime) -> None:
    assert entry.main(["kill", "--all", "c1", "15"]) == 0
    assert runtime.calls == [("kill", "c1", "15", True)]


def test_create_and_run_pass_every_option_to_the_runtime(runtime: FakeRuntime) -> None:
    assert entry.main(["create", "-b", "/b", "--console-socket", "/s", "--preserve-fds", "2", "--no-pivot",
                       "--no-new-keyring", "--no-subreaper", "--pid-file", "/p", "c1"]) == 0
    assert entry.main(["run", "-d", "--keep", "-f", "x.json", "--runtime", "runc", "c2"]) == 0
    assert runtime.calls == [
        ("create_container", "c1", "/b", {"config": "config.json", "pid_file": "/p", "console_socket": "/s",
                                          "preserve_fds": 2, "no_pivot": True, "no_new_keyring": True,
                                          "no_subreaper": True, "runtime": None}),
        ("run", "c2", None, {"config": "x.json", "pid_file": None, "detach": True, "console_socket": None,
                             "preserve_fds": 0, "no_pivot": False, "no_new_keyring": False,
                             "no_subreaper": False, "keep": True, "runtime": "runc"})]


def test_ps_prints_a_pid_column_or_a_json_array(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["ps", "c1"]) == 0
    assert capsys.readouterr().out == "PID\n21330\n21401\n"
    assert entry.main(["ps", "--format", "json", "c1"]) == 0
    assert json.loads(capsys.readouterr().out) == [21330, 21401]


def test_pause_and_resume(runtime: FakeRuntime) -> None:
    assert entry.main(["pause", "c1"]) == 0
    assert entry.main(["resume", "c1"]) == 0
    assert runtime.calls == [("pause", "c1"), ("resume", "c1")]


@pytest.mark.parametrize("main", [entry.main, cli.main], ids=["fast", "typer"])
def test_exec_in_the_foreground_exits_as_its_process(main: Callable[[list[str]], int],
                                                     runtime: FakeRuntime) -> None:
    runtime.exec_code = 42
    assert main(["exec", "-t", "--cwd", "/w", "-e", "A=1", "-u", "1:2", "-c", "CAP_KILL", "c1", "sh", "-c",
                 "exit 42"]) == 42
    assert runtime.calls == [("exec", "c1", {
        "process": None, "args": ["sh", "-c", "exit 42"], "detach": False, "tty": True, "console_socket": None,
        "pid_file": None, "cwd": "/w", "env": ("A=1",), "user": "1:2", "caps": ("CAP_KILL",),
        "no_new_privs": False, "preserve_fds": 0})]


def test_exec_with_a_process_file(runtime: FakeRuntime) -> None:
    assert entry.main(["exec", "--process", "/p.json", "--detach", "--pid-file", "/p", "c1"]) == 0
    assert runtime.calls == [("exec", "c1", {
        "process": "/p.json", "args": None, "detach": True, "tty": False, "console_socket": None,
        "pid_file": "/p", "cwd": None, "env": (), "user": None, "caps": (), "no_new_privs": False,
        "preserve_fds": 0})]


@pytest.mark.parametrize("argv,message", [
    (["exec", "c1"], "lxcri: exec needs a command to run, or --process FILE\n"),
    (["exec", "-p", "/p.json", "c1", "true"], "lxcri: exec takes either --process FILE or a command, not both\n"),
])
def test_exec_takes_a_process_file_or_a_command(argv: list[str], message: str, runtime: FakeRuntime,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(argv) == 1
    assert capsys.readouterr() == ("", message)
    assert runtime.calls == []


def test_delete_regex_deletes_every_id_it_matches_and_reports_each_failure(
        runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    from lxcri.errors import ContainerStateError

    runtime.states = [container(cid, 1, "stopped") for cid in ("test-1", "test-2", "other", "my-test-3", "test-4")]
    runtime.failures = {"test-2": ContainerStateError("container 'test-2' is running"),
                        "test-4": ContainerStateError("cannot kill")}
    assert entry.main(["delete", "-f", "--regex", "test-[0-9]"]) == 1
    # re.search, as crun's regexec: my-test-3 matches too.
    assert runtime.calls == [("delete", cid, True) for cid in ("test-1", "test-2", "my-test-3", "test-4")]
    assert capsys.readouterr() == ("", "lxcri: container 'test-2' is running\nlxcri: test-4: cannot kill\n")
    runtime.failures = {}
    runtime.calls = []
    assert entry.main(["delete", "-r", "^test-1$"]) == 0
    assert runtime.calls == [("delete", "test-1", False)]
    runtime.calls = []
    assert entry.main(["delete", "-r", "nothing"]) == 0
    assert runtime.calls == []


def test_delete_regex_rejects_a_bad_pattern(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["delete", "--regex", "a(b"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lxcri: invalid regular expression 'a(b': ") and err.count("\n") == 1
    assert runtime.calls == []


def test_update_applies_the_options_over_the_file(runtime: FakeRuntime, tmp_path: Any) -> None:
    path = tmp_path / "resources.json"
    path.write_text(json.dumps({"memory": {"limit": 1, "swap": 2}, "cpu": {"shares": 3},
                                "devices": [{"allow": False, "access": "rwm"}], "pids": None}))
    assert entry.main(["update", "--resources", str(path), "--memory", "1g", "--memory-reservation", "512m",
                       "--cpu-quota", "-1", "--cpu-period", "100000", "--cpu-rt-runtime", "950",
                       "--cpu-rt-period", "1000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
                       "--pids-limit", "100", "--blkio-weight", "500", "--cpu-shares", "1024",
                       "--memory-swap", "-1", "c1"]) == 0
    assert runtime.calls == [("update", "c1", {
        "memory": {"limit": 1 << 30, "reservation": 512 << 20, "swap": -1},
        "cpu": {"shares": 1024, "quota": -1, "period": 100000, "realtimeRuntime": 950, "realtimePeriod": 1000,
                "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100}, "blockIO": {"weight": 500},
        "devices": [{"allow": False, "access": "rwm"}]})]


def test_update_reads_the_resources_from_stdin(runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # containerd's shim: `update --resources - ID` with the LinuxResources JSON on stdin.
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"cpu": {"quota": 50000, "period": 100000}}'))
    assert entry.main(["update", "--resources", "-", "c1"]) == 0
    assert runtime.calls == [("update", "c1", {"cpu": {"quota": 50000, "period": 100000}})]


@pytest.mark.parametrize("text,size", [
    ("100", 100), ("1k", 1024), ("1K", 1024), ("512m", 512 << 20), ("1g", 1 << 30), ("1.5g", 3 << 29),
    ("1GiB", 1 << 30), ("2 MB", 2 << 20), ("10kb", 10240), ("1t", 1 << 40), ("-1", -1), ("0", 0),
])
def test_update_reads_memory_sizes_as_runc(text: str, size: int, runtime: FakeRuntime) -> None:
    assert entry.main(["update", "--memory", text, "c1"]) == 0
    assert runtime.calls == [("update", "c1", {"memory": {"limit": size}})]


SIZE_EXPECTED = "expected a size in bytes such as 1048576, 512m or 1g"


@pytest.mark.parametrize("argv,message", [
    (["update", "c1"], "update needs --resources FILE (or -) or at least one resource option"),
    (["update", "--memory", "1x", "c1"], f"invalid value '1x' for --memory: {SIZE_EXPECTED}"),
    (["update", "--memory", "g", "c1"], f"invalid value 'g' for --memory: {SIZE_EXPECTED}"),
    (["update", "--memory", "-2", "c1"], f"invalid value '-2' for --memory: {SIZE_EXPECTED}"),
    (["update", "--cpu-shares", "-5", "c1"], "invalid value '-5' for --cpu-shares: expected a non-negative integer"),
    (["update", "--cpu-quota", "1.5", "c1"], "invalid value '1.5' for --cpu-quota: expected an integer"),
    (["update", "-r", "/nonexistent/r.json", "c1"],
     "cannot read resources from /nonexistent/r.json: No such file or directory"),
])
def test_update_rejects_what_it_cannot_apply(argv: list[str], message: str, runtime: FakeRuntime,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(argv) == 1
    assert capsys.readouterr() == ("", f"lxcri: {message}\n")
    assert runtime.calls == []


@pytest.mark.parametrize("document,message", [
    ("{not json", "resources in standard input are not valid JSON: "),
    ("[1, 2]", "resources in standard input must be a JSON object (an OCI LinuxResources)"),
    ('{"memory": 5}', 'cannot apply --memory: "memory" in standard input is not a JSON object'),
])
def test_update_rejects_bad_resources_json(document: str, message: str, runtime: FakeRuntime,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(document))
    assert entry.main(["update", "-r", "-", "--memory", "1m", "c1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lxcri: {message}") and err.count("\n") == 1, err
    assert runtime.calls == []


def test_spec_writes_into_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, bool]] = []

    def write_spec(bundle_dir: str, rootless: bool) -> str:  # test double for lxcri.runtime.write_spec
        written.append((bundle_dir, rootless))
        return f"{bundle_dir}/config.json"

    monkeypatch.setattr(commands, "write_spec", write_spec)
    assert entry.main(["spec"]) == 0
    assert entry.main(["spec", "--rootless", "-b", "/b"]) == 0
    assert written == [(".", False), ("/b", True)]


def test_features_prints_the_document(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    document = {"ociVersionMin": "1.0.0", "ociVersionMax": "1.1.0", "hooks": ["prestart"]}
    monkeypatch.setattr(commands, "read_features", lambda: document)
    assert entry.main(["features"]) == 0
    assert json.loads(capsys.readouterr().out) == document


@pytest.mark.parametrize("argv,expected", [
    ([], {"systemd_cgroup": False, "force_no_cgroup": False, "log": None, "log_format": "text",
          "log_level": None}),
    (["--systemd-cgroup"], {"systemd_cgroup": True, "force_no_cgroup": False}),
    (["--cgroup-manager", "systemd"], {"systemd_cgroup": True, "force_no_cgroup": False}),
    (["--cgroup-manager", "disabled"], {"systemd_cgroup": False, "force_no_cgroup": True}),
    (["--cgroup-manager", "cgroupfs"], {"systemd_cgroup": False, "force_no_cgroup": False}),
    (["--log", "file:/l", "--log-format", "json", "--log-level", "warn"],
     {"log": "/l", "log_format": "json", "log_level": "warning"}),
])
def test_open_runtime_passes_the_global_options(argv: list[str], expected: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import lxcri.runtime

    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class RecordingRuntime:  # test double for lxcri.runtime.Runtime: records how it was constructed
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append((args, kwargs))

    monkeypatch.setattr(lxcri.runtime, "Runtime", RecordingRuntime)
    invocation = fast.parse([*argv, "--root", "/r", "state", "c1"])
    assert invocation is not None
    commands.open_runtime(invocation.options)
    (args, kwargs), = made
    assert (args, kwargs["isolate"]) == (("/r",), False)
    assert {key: kwargs[key] for key in expected} == expected


def test_version_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "read_version_info", lambda: {
        "lxcri": "0.1.0", "libcrun": "1.8.1", "spec": "1.0.0",
        "features": ["+SYSTEMD", "+CAP", "+SECCOMP", "+EBPF", "+YAJL"]})
    for argv in (["--version"], ["-v"], ["--root", "/r", "-V"]):
        assert entry.main(argv) == 0
        assert capsys.readouterr().out == ("lxcri version 0.1.0\nlibcrun version 1.8.1\nspec: 1.0.0\n"
                                           "+SYSTEMD +CAP +SECCOMP +EBPF +YAJL\n")
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lxcri version 0.1.0\n")


# --- the one error mapping ----------------------------------------------------------

def test_invoke_maps_an_unexpected_exception_to_an_internal_error(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(options: GlobalOptions) -> int:
        raise KeyError("oops")

    assert commands.invoke(broken, opts()) == 1
    assert capsys.readouterr().err == "lxcri: internal error: KeyError: 'oops'\n"
    assert commands.invoke(broken, opts(debug=True)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("lxcri: internal error: KeyError: 'oops'\n")


def test_invoke_maps_ctrl_c_to_130_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(options: GlobalOptions) -> int:
        raise KeyboardInterrupt

    assert commands.invoke(interrupted, opts()) == 130
    assert capsys.readouterr() == ("", "")


def test_invoke_uses_the_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    class Special(InvalidArgument):
        exit_code = 3

    def fails(options: GlobalOptions) -> int:
        raise Special("bad id 'x/y': must not contain '/'")

    assert commands.invoke(fails, opts()) == 3
    assert capsys.readouterr().err == "lxcri: bad id 'x/y': must not contain '/'\n"


# --- what the fast path imports -------------------------------------------------------

HEAVY = ("typer", "click", "rich", "jsonschema")


def python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=LXCRI_HOME)
    done = subprocess.run([sys.executable, "-c", code], cwd=LXCRI_HOME, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def test_fast_path_modules_import_nothing_heavy() -> None:
    out = python("import lxcri.__main__, lxcri.cli.fast, lxcri.commands, sys; "
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
