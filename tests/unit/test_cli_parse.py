"""Tests of lxcri's command-line layer without root: the fast parser and the typer app must agree, errors stay one line.

The parity tests run each argv through both parsers (lxcri.cli_fast and the
typer app in lxcri.cli) with the command functions of lxcri.commands replaced
by a recording test double, and compare the calls they make.
"""
from __future__ import annotations

import inspect
import json
import os
import random
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from lxcri import __main__ as entry
from lxcri import cli, cli_fast, commands
from lxcri.commands import GlobalOptions
from lxcri.errors import ContainerNotFound, InvalidArgument

# Where the lxcri under test lives (the source tree or site-packages): the
# subprocess checks import that one too.
LXCRI_HOME = os.path.dirname(os.path.dirname(os.path.abspath(commands.__file__)))

COMMAND_FUNCTIONS = ("create", "start", "state", "kill", "delete", "run", "list_containers", "version")

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
    invocation = cli_fast.parse(argv)
    assert invocation is not None, f"the fast parser should understand {argv}"
    code = entry.run_invocation(invocation)
    return recorder.take(), code


def via_typer(argv: list[str], recorder: RecordingCommands) -> tuple[list[Call], int]:
    code = cli.main(list(argv))
    return recorder.take(), code


def opts(root: str = commands.DEFAULT_ROOT, debug: bool = False) -> GlobalOptions:
    return GlobalOptions(root=root, debug=debug)


# Each argv with the one call it must turn into. The engines' argv from
# DESIGN.md that fit this grammar come first.
EXPECTED: list[tuple[list[str], Call]] = [
    # containerd's runc shim
    (["--root", "/run/containerd/runc/default", "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc"],
     ("create", {"options": opts("/run/containerd/runc/default"), "container_id": "abc", "bundle": "/b",
                 "config": "config.json", "pid_file": "/b/init.pid"})),
    (["--root", "/run/containerd/runc/default", "start", "abc"],
     ("start", {"options": opts("/run/containerd/runc/default"), "container_id": "abc"})),
    (["--root", "/run/containerd/runc/default", "kill", "abc", "9"],
     ("kill", {"options": opts("/run/containerd/runc/default"), "container_id": "abc", "signal": "9"})),
    (["--root", "/run/containerd/runc/default", "delete", "abc"],
     ("delete", {"options": opts("/run/containerd/runc/default"), "container_id": "abc", "force": False})),
    (["--root", "/run/containerd/runc/default", "delete", "--force", "abc"],
     ("delete", {"options": opts("/run/containerd/runc/default"), "container_id": "abc", "force": True})),
    # conmon and podman, without the --log flags
    (["create", "--bundle", "/B", "--pid-file", "/P", "ID1"],
     ("create", {"options": opts(), "container_id": "ID1", "bundle": "/B", "config": "config.json",
                 "pid_file": "/P"})),
    (["start", "ID1"], ("start", {"options": opts(), "container_id": "ID1"})),
    (["kill", "ID1", "15"], ("kill", {"options": opts(), "container_id": "ID1", "signal": "15"})),
    (["kill", "ID1"], ("kill", {"options": opts(), "container_id": "ID1", "signal": "TERM"})),
    (["delete", "--force", "ID1"], ("delete", {"options": opts(), "container_id": "ID1", "force": True})),
    (["--version"], ("version", {"options": opts()})),
    # the other spellings
    (["--root=/r", "--debug", "state", "c1"], ("state", {"options": opts("/r", True), "container_id": "c1"})),
    (["--debug", "-v"], ("version", {"options": opts(debug=True)})),
    (["-v", "--debug"], ("version", {"options": opts(debug=True)})),
    (["run", "-d", "-b", "/b", "-f", "c.json", "--pid-file=/p", "c1"],
     ("run", {"options": opts(), "container_id": "c1", "bundle": "/b", "config": "c.json", "pid_file": "/p",
              "detach": True})),
    (["run", "c1"], ("run", {"options": opts(), "container_id": "c1", "bundle": None, "config": "config.json",
                             "pid_file": None, "detach": False})),
    (["run", "-db/b", "c1"], ("run", {"options": opts(), "container_id": "c1", "bundle": "/b",
                                      "config": "config.json", "pid_file": None, "detach": True})),
    (["create", "c1", "--bundle", "/late"],
     ("create", {"options": opts(), "container_id": "c1", "bundle": "/late", "config": "config.json",
                 "pid_file": None})),
    (["create", "--", "-odd-id"],
     ("create", {"options": opts(), "container_id": "-odd-id", "bundle": None, "config": "config.json",
                 "pid_file": None})),
    (["list"], ("list_containers", {"options": opts(), "output_format": "table", "quiet": False})),
    (["list", "-qf", "json"], ("list_containers", {"options": opts(), "output_format": "json", "quiet": True})),
    (["list", "--format=json"], ("list_containers", {"options": opts(), "output_format": "json", "quiet": False})),
    (["--root", "/a", "--root", "/b", "list", "--quiet"],
     ("list_containers", {"options": opts("/b"), "output_format": "table", "quiet": True})),
]

# More argv both parsers must read alike; what they mean is left to parity.
MORE_ARGV: list[list[str]] = [
    ["create", "-b", "/b", "c1"], ["create", "-b/b", "c1"], ["create", "-b=/b", "c1"],
    ["create", "--bundle=/b", "--config=x.json", "c1"], ["create", "--config", "x.json", "c1"],
    ["create", "-f", "x.json", "--pid-file", "/p", "c1"], ["create", "--bundle", "--debug", "c1"],
    ["create", "-b", "--", "c1"], ["create", "--bundle=", "c1"], ["create", "c1", "-b", "/b", "-f", "y"],
    ["--debug", "create", "c1"], ["--", "state", "c1"], ["state", ""], ["state", "-"],
    ["kill", "c1", "KILL"], ["kill", "c1", "SIGKILL"], ["kill", "--", "c1", "-9"],
    ["delete", "-f", "c1"], ["delete", "c1", "-f"], ["delete", "-f", "-f", "c1"], ["delete", "c1"],
    ["run", "--detach", "c1"], ["run", "c1", "-d"], ["run", "-d", "--bundle=/b", "c1", "--config", "k"],
    ["list", "-q"], ["list", "--quiet", "--format", "table"], ["list", "-f", "json", "-q"], ["list", "-fjson"],
    ["-V"], ["--version", "create"], ["--version", "state", "--bogus"], ["-vV"],
]


@pytest.mark.parametrize("argv,expected", EXPECTED, ids=[" ".join(a) for a, _ in EXPECTED])
def test_both_parsers_make_the_expected_call(argv: list[str], expected: Call,
                                             recorder: RecordingCommands) -> None:
    assert via_fast(argv, recorder) == ([expected], 0)
    assert via_typer(argv, recorder) == ([expected], 0)


@pytest.mark.parametrize("argv", MORE_ARGV, ids=[" ".join(a) for a in MORE_ARGV])
def test_both_parsers_agree(argv: list[str], recorder: RecordingCommands) -> None:
    fast = via_fast(argv, recorder)
    assert len(fast[0]) == 1
    assert via_typer(argv, recorder) == fast


def test_parsers_agree_on_random_command_lines(recorder: RecordingCommands,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the fast parser accepts, the typer app accepts with the same meaning."""
    heads = [[], ["--root", "/r"], ["--root=/s"], ["--debug"], ["--version"], ["-v"], ["--"], ["-x"]]
    words = ["create", "start", "state", "kill", "delete", "run", "list", "exec", "bogus"]
    tail = ["c1", "c2", "9", "KILL", "json", "table", "/b", "-", "--", "", "-b", "--bundle", "--bundle=/x",
            "-f", "--config=c.json", "--pid-file", "--pid-file=/p", "-d", "--detach", "--detach=1", "--force",
            "-q", "--quiet", "--format", "--format=json", "--format=yaml", "-fjson", "-db", "-qf", "-dq",
            "--debug", "--root", "-x", "--help", "-h"]
    rng = random.Random(20240611)
    accepted = 0
    for _ in range(2500):
        argv = rng.choice(heads) + [rng.choice(words)] + rng.choices(tail, k=rng.randint(0, 4))
        if cli_fast.parse(argv) is None:
            continue
        accepted += 1
        fast = via_fast(argv, recorder)
        typer_result = via_typer(argv, recorder)
        assert typer_result == fast, argv
    capsys.readouterr()
    assert accepted > 300, "the random corpus should exercise the fast parser"


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["-h"], ["create", "--help"], ["create", "-h"], ["state", "c1", "--help"],
    ["bogus"], ["exec", "c1"], ["--root", "/r"], ["--root"], ["--bogus", "state", "c1"],
    ["create"], ["create", "--bundle"], ["create", "--bogus", "c1"], ["create", "-x", "c1"],
    ["create", "-bx"], ["create", "c1", "c2"], ["kill", "a", "b", "c"], ["kill"],
    ["delete", "--force=yes", "c1"], ["delete", "--no-force", "c1"], ["list", "extra"],
    ["list", "--format", "yaml"], ["list", "--format"], ["--version", "bogus"], ["state", "c1", "-9"],
    ["start", "--", "a", "b"],
])
def test_fast_parser_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert cli_fast.parse(argv) is None


@pytest.mark.parametrize("argv", [
    ["create"], ["run", "-d"], ["start"], ["state"], ["kill"], ["delete", "-f"], ["bogus", "c1"],
    ["create", "--bogus", "c1"], ["list", "--format", "yaml"], ["delete", "--force=yes", "c1"],
    ["--root"], ["--root", "/r"], ["kill", "a", "b", "c"],
])
def test_typer_rejects_a_usage_error_in_one_line(argv: list[str], recorder: RecordingCommands,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = entry.main(argv)
    out, err = capsys.readouterr()
    assert code != 0
    assert recorder.calls == []
    assert out == ""
    assert err.startswith("lxcri: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_help_goes_to_typer_and_exits_zero(recorder: RecordingCommands,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["create", "--help"]) == 0
    out, _ = capsys.readouterr()
    assert "--bundle" in out and "--pid-file" in out
    assert recorder.calls == []


# --- the entry point ---------------------------------------------------------------

@pytest.mark.parametrize("argv,sealed", [
    (["create", "c1"], True), (["--root", "/r", "run", "-d", "c1"], True), (["exec", "c1"], True),
    (["--root", "create", "state", "c1"], False),      # "create" is --root's value here
    (["--log", "/x", "create", "c1"], True),           # unknown option: any create/run/exec word counts
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
        assert code == 2


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
    """TEST DOUBLE for lxcri.runtime.Runtime: canned states, records what is asked of it."""

    def __init__(self, states: list[SimpleNamespace]) -> None:
        self.states = states
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False

    def list(self) -> list[SimpleNamespace]:
        return self.states

    def state_json(self, container_id: str) -> str:
        return json.dumps({"ociVersion": "1.0.0", "id": container_id}, indent=4)

    def kill(self, container_id: str, signal: str) -> None:
        self.calls.append(("kill", container_id, signal))
        raise InvalidArgument(f"unknown signal '{signal}'")

    def close(self) -> None:
        self.closed = True


def container(cid: str, pid: int, status: str) -> SimpleNamespace:
    return SimpleNamespace(id=cid, pid=pid, status=status, bundle="/tmp/cliref",
                           created="2026-11-23T13:01:45.691584Z", owner="root")


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime([container("ref1", 21330, "running"),
                        container("a-much-longer-container-name-here", 21332, "created"),
                        container("gone", 4242, "stopped")])
    monkeypatch.setattr(commands, "open_runtime", lambda options: fake)
    return fake


def test_list_table_lays_out_columns_as_crun(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    # The layout `crun list` printed on this machine for the first two.
    assert entry.main(["list"]) == 0
    assert capsys.readouterr().out == (
        "NAME                              PID       STATUS   BUNDLE PATH                             CREATED"
        "                        OWNER\n"
        "ref1                              21330     running  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root\n"
        "a-much-longer-container-name-here 21332     created  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root\n"
        "gone                              0         stopped  /tmp/cliref                             "
        "2026-11-23T13:01:45.691584Z    root\n")
    assert runtime.closed


def test_list_of_nothing_is_a_header(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "open_runtime", lambda options: FakeRuntime([]))
    assert entry.main(["list"]) == 0
    assert capsys.readouterr().out == ("NAME PID       STATUS   BUNDLE PATH                             "
                                       "CREATED                        OWNER\n")
    assert entry.main(["list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_list_json_and_quiet(runtime: FakeRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["list", "-f", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [sorted(entry) for entry in listed] == [sorted(["id", "pid", "status", "bundle", "created", "owner"])] * 3
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
    assert runtime.calls == [("kill", "c1", "NOPE")] and runtime.closed


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
    out = python("import lxcri.__main__, lxcri.cli_fast, lxcri.commands, sys; "
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
