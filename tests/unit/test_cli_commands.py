"""The command bodies of lxcri.commands without root, run from argv against a fake runtime; the one error mapping.

What each command prints and asks of the runtime, whichever parse path read
its argv, and how commands.invoke turns failures into a message and an exit code.
"""
from __future__ import annotations

import builtins
import io
import json
import sys
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from cli_support import (
    opts,
    seals,  # noqa: F401  (fixture)
)
from lxcri import __main__ as entry
from lxcri import cli, commands
from lxcri.cli import fast
from lxcri.commands import GlobalOptions
from lxcri.errors import InvalidArgument


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
        # (call, listen_fds, notify_socket) of each create, run, exec and start
        self.systemd: list[tuple[str, int, str | None]] = []

    def _systemd(self, call: str, options: Any) -> None:
        self.systemd.append((call, options.listen_fds, getattr(options, "notify_socket", None)))

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

    def start(self, container_id: str, *, notify_socket: str | None = None) -> None:
        self.calls.append(("start", container_id))
        self.systemd.append(("start", 0, notify_socket))

    def exec(self, container_id: str, options: Any) -> int:
        self.calls.append(("exec", container_id, fields(options)))
        self._systemd("exec", options)
        return self.exec_code

    def create_container(self, container_id: str, *, options: Any, **kwargs: Any) -> None:
        given = fields(options)
        self.calls.append(("create_container", container_id, given.pop("bundle"), {**given, **kwargs}))
        self._systemd("create", options)

    def run(self, container_id: str, *, options: Any, **kwargs: Any) -> int:
        given = fields(options)
        self.calls.append(("run", container_id, given.pop("bundle"), {**given, **kwargs}))
        self._systemd("run", options)
        return 0

    def close(self) -> None:
        self.closed = True


def fields(options: Any) -> dict[str, Any]:
    """The options object's fields, as the runtime's keywords name them, but for those the command takes
    from systemd's variables (FakeRuntime.systemd has them)."""
    given = {name: getattr(options, name) for name in options.to_dict()}
    given.pop("listen_fds")
    given.pop("notify_socket", None)
    return given


@pytest.fixture(autouse=True)
def _no_systemd_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET"):
        monkeypatch.delenv(name, raising=False)


def container(cid: str, pid: int, status: str, runtime: str = "crun") -> SimpleNamespace:
    return SimpleNamespace(id=cid, pid=pid, status=status, bundle="/tmp/cliref",
                           created="2026-11-23T13:01:45.691584Z", owner="root", runtime=runtime)


@pytest.fixture(autouse=True)
def _no_quick_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # The quick way answers state, kill, start, delete and list from the real default
    # root (/run/lxcri) when that exists, past the fake runtimes of these tests: a list
    # here printed the containers a benchmark had left on the machine.
    from lxcri.cli import quick

    monkeypatch.setattr(quick, "run", lambda args: None)


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


def test_systemd_variables_reach_the_runtime_as_options(runtime: FakeRuntime,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The command takes LISTEN_FDS and NOTIFY_SOCKET from its environment, as crun does, and hands
    them to the Runtime as options: the Runtime reads neither (a program embedding it is not a
    container's systemd)."""
    argvs = (["create", "c1"], ["run", "c2"], ["exec", "c3", "true"], ["start", "c4"])
    for argv in argvs:
        assert entry.main(argv) == 0
    assert runtime.systemd == [("create", 0, None), ("run", 0, None), ("exec", 0, None), ("start", 0, None)]
    runtime.systemd.clear()
    monkeypatch.setenv("LISTEN_FDS", "2")
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/n.sock")
    for argv in argvs:
        assert entry.main(argv) == 0
    assert runtime.systemd == [("create", 2, "/run/n.sock"), ("run", 2, "/run/n.sock"), ("exec", 2, None),
                               ("start", 0, "/run/n.sock")]
    runtime.systemd.clear()
    monkeypatch.setenv("LISTEN_FDS", "x")  # not a count: none, as crun takes it
    assert entry.main(["run", "c5"]) == 0
    assert runtime.systemd == [("run", 0, "/run/n.sock")]


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
