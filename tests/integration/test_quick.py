"""The quick way of `state`, `kill` and `list` (lxcri.cli.quick, lxcri.quick,
lxcri.backends.crun.status) against the full way through libcrun, on real containers.

Each case checks that the quick way answered (lxcri.cli.quick.answer is not None: the
same function the command calls first) and that it printed, byte for byte, what libcrun
prints for the same container (the library's Runtime, which always asks libcrun), and
that the command prints it too. The cases it must leave to the full way (answer None)
are checked as well: there the command's output is the full way's by construction.
"""
from __future__ import annotations

import contextlib
import json
import os
import posix
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from lxcri.cli import quick
from support import Cli, new_id, process_state

pytestmark = pytest.mark.core


def answer(cli: Cli, *args: str) -> Optional[str]:
    return quick.answer(["--root", str(cli.root), *args])


def full_state(runtime: Any, id: str) -> str:
    text = str(runtime.state_json(id))
    return text if text.endswith("\n") else text + "\n"


def annotated(spec: Dict[str, Any]) -> None:
    spec["annotations"] = {"org.example/name": "web", "lxcri.test": "1", "ünïcode": "välue ✓"}


def wait_status(cli: Cli, id: str, want: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if json.loads(cli("state", id).stdout)["status"] == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{id} never became {want}")


@pytest.fixture
def containers(cli: Cli, make_bundle: Any) -> Dict[str, str]:
    """One container of each status: created, running, paused, stopped (and annotated)."""
    ids = {s: new_id(f"quick{s}") for s in ("created", "running", "paused", "stopped")}
    sleeper = make_bundle("sleep", "100", edit=annotated)
    for id in ids.values():
        assert cli("create", "--bundle", str(sleeper if id != ids["stopped"] else
                                             make_bundle("true")), id).returncode == 0
    for status in ("running", "paused", "stopped"):
        assert cli("start", ids[status]).returncode == 0
    assert cli("pause", ids["paused"]).returncode == 0
    wait_status(cli, ids["stopped"], "stopped")
    return ids


def test_state_answers_quickly_and_as_libcrun_does(cli: Cli, runtime: Any,
                                                   containers: Dict[str, str]) -> None:
    for status, id in containers.items():
        text = answer(cli, "state", id)
        assert text is not None, status
        assert text == full_state(runtime, id), status
        assert json.loads(text)["status"] == status
        done = cli("state", id)
        assert (done.returncode, done.stdout, done.stderr) == (0, text, ""), status
    doc = json.loads(answer(cli, "state", containers["running"]) or "")
    assert doc["annotations"]["ünïcode"] == "välue ✓" and doc["pid"] > 0
    assert json.loads(answer(cli, "state", containers["stopped"]) or "")["pid"] == 0
    # Every global option an engine passes, in both spellings.
    for globals_ in (["--log", "/dev/null", "--log-format", "json"], ["--systemd-cgroup"],
                     ["--cgroup-manager=cgroupfs", "--log-level", "error"]):
        assert quick.answer(["--root", str(cli.root), *globals_, "state",
                             containers["created"]]) == full_state(runtime, containers["created"])


def test_list_answers_quickly_and_as_the_full_way_does(cli: Cli, runtime: Any,
                                                      containers: Dict[str, str]) -> None:
    from lxcri import listing

    states = runtime.list()
    assert sorted(s.id for s in states) == sorted(containers.values())
    expected = {(): listing.format_table(states), ("-f", "json"): listing.format_json_list(states),
                ("--format=table",): listing.format_table(states),
                ("-q",): "".join(f"{s.id}\n" for s in states)}
    for args, text in expected.items():
        assert answer(cli, "list", *args) == text, args
        assert cli("list", *args).stdout == text, args
    assert json.loads(expected[("-f", "json")]) == json.loads(
        json.dumps([{"id": s.id, "pid": s.pid if s.status != "stopped" else 0, "status": s.status,
                     "bundle": s.bundle, "created": s.created, "owner": s.owner,
                     "runtime": "crun"} for s in states]))


def test_kill_is_sent_quickly_and_leaves_errors_to_the_full_way(
        cli: Cli, containers: Dict[str, str]) -> None:
    running = containers["running"]
    pid = json.loads(cli("state", running).stdout)["pid"]
    assert answer(cli, "kill", running, "KILL") == ""  # sent
    wait_status(cli, running, "stopped")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # The process is gone now: the quick way sends nothing and says nothing; the full
    # way (libcrun) reports it.
    assert answer(cli, "kill", running, "KILL") is None
    done = cli("kill", running, "KILL")
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert answer(cli, "kill", containers["created"], "NOSUCHSIGNAL") is None
    assert answer(cli, "kill", containers["created"], "-9") is None
    # A created container takes a signal (its init waits for start): sent quickly. TERM,
    # the default, is one the init of a pid namespace does not die of; KILL it is.
    assert answer(cli, "kill", containers["created"]) == ""
    assert json.loads(cli("state", containers["created"]).stdout)["status"] == "created"
    assert answer(cli, "kill", containers["created"], "SIGKILL") == ""
    wait_status(cli, containers["created"], "stopped")


def test_what_the_quick_way_leaves_to_the_full_way(cli: Cli, make_bundle: Any,
                                                   containers: Dict[str, str],
                                                   tmp_path: Path) -> None:
    created = containers["created"]
    for args in (["state"], ["state", created, "extra"], ["state", "--", created],
                 ["state", "nosuch"], ["state", ".hidden"], ["state", "a b"], ["state", "a/../b"],
                 ["kill", "--all", created, "TERM"], ["kill", "-a", created],
                 ["list", "--format", "yaml"], ["list", "-x"], ["ps", created],
                 ["--debug", "state", created], ["--root"], ["--bogus", "state", created],
                 ["--log-level", "debug", "state", created]):
        assert answer(cli, *args) is None, args
    assert quick.answer(["--root", "/", "state", created]) is None
    (tmp_path / "file").write_text("")
    assert quick.answer(["--root", str(tmp_path / "file"), "list"]) is None

    # A container of another backend under the root: list and its state go the full way.
    other = new_id("quickrunc")
    assert cli("create", "--bundle", str(make_bundle("sleep", "100")), other,
               runtime="runc").returncode == 0
    try:
        assert answer(cli, "state", other) is None and answer(cli, "list") is None
        assert json.loads(cli("state", other).stdout)["status"] == "created"
        assert other in cli("list", "-q").stdout.split()
    finally:
        assert cli("delete", "--force", other).returncode == 0

    # A corrupt status file: the full way names it.
    status = cli.root / created / "status"
    good = status.read_bytes()
    try:
        status.write_bytes(good[: len(good) // 2])
        assert answer(cli, "state", created) is None and answer(cli, "list") is None
        assert answer(cli, "kill", created, "KILL") is None
        done = cli("state", created)
        assert done.returncode != 0 and str(status) in done.stderr, done.stderr
    finally:
        status.write_bytes(good)
    assert answer(cli, "state", created) is not None


def test_an_unfinished_create_goes_the_full_way(cli: Cli, make_bundle: Any) -> None:
    """A create stopped after its intent record (LXCRI_TEST_STOP_AT=intent) is `creating`:
    only lxcri's record knows it, and the full way reports it."""
    id = new_id("quickintent")
    proc = subprocess.Popen(cli.argv("create", "--bundle", str(make_bundle("true")), id),
                            env={**os.environ, "LXCRI_TEST_STOP_AT": "intent"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (cli.root / ".lxcri" / "owners" / id).exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert answer(cli, "state", id) is None and answer(cli, "list") is None
        assert json.loads(cli("state", id).stdout)["status"] == "creating"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert cli("delete", "--force", id).returncode == 0


def test_a_closed_stdout_ends_list_quietly(cli: Cli, containers: Dict[str, str]) -> None:
    done = subprocess.run(f"{' '.join(cli.argv('list'))} | head -c 1 >/dev/null",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_quick_list_of_an_empty_and_a_missing_root(cli: Cli, tmp_path: Path) -> None:
    from lxcri import listing

    empty: List[Any] = []
    assert answer(cli, "list") == listing.format_table(empty)
    assert cli("list").stdout == listing.format_table(empty)
    missing = tmp_path / "missing"
    assert quick.answer(["--root", str(missing), "list"]) is None


def test_start_is_done_quickly_and_leaves_the_rest_to_the_full_way(
        cli: Cli, make_bundle: Any, tmp_path: Path) -> None:
    id = new_id("quickstart")
    assert cli("create", "--bundle", str(make_bundle("sleep", "100")), id).returncode == 0
    assert answer(cli, "start", id) == ""
    wait_status(cli, id, "running")
    assert not (cli.root / id / "exec.fifo").exists()
    assert answer(cli, "start", id) is None  # running: the full way says so
    done = cli("start", id)
    assert done.returncode != 0 and "only a created container can be started" in done.stderr

    # poststart hooks, and a NOTIFY_SOCKET to wait on, are libcrun's to handle.
    mark = tmp_path / "poststart"

    def hooked(spec: Dict[str, Any]) -> None:
        spec["hooks"] = {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f": > {mark}"]}]}

    other = new_id("quickhook")
    assert cli("create", "--bundle", str(make_bundle("sleep", "100", edit=hooked)),
               other).returncode == 0
    assert answer(cli, "start", other) is None
    os.environ["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    try:
        assert answer(cli, "start", id) is None
    finally:
        del os.environ["NOTIFY_SOCKET"]
    assert cli("start", other).returncode == 0 and mark.exists()
    wait_status(cli, other, "running")


def test_the_quick_way_loads_neither_libcrun_nor_os(cli: Cli,
                                                    containers: Dict[str, str]) -> None:
    """What makes it quick, kept: a quick command, run as the launcher runs it (-I -S),
    imports no os (1.1 ms here), no lxcri.errors, no json, no libcrun (lxcri._crun), no
    Runtime and no __future__ (0.4 M instructions: none of the modules on the quick way
    says `from __future__ import annotations`); the full way, for comparison, imports
    them all."""
    import sys

    bare = subprocess.run([sys.executable, "-I", "-S", "-c",
                           "import sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, timeout=60).stdout.split()
    heavy = tuple(m for m in ("os", "json", "lxcri.errors", "lxcri._crun", "lxcri.runtime",
                              "lxcri.dispatch", "__future__") if m not in bare)  # an interpreter may load os
    code = ("import sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from lxcri.__main__ import main\n"
            "code = main(sys.argv[2:])\n"
            f"print(code, ' '.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n")
    site = str(Path(quick.__file__).parents[2])
    for args in (["state", containers["running"]], ["list"], ["list", "-f", "json"],
                 ["state", containers["paused"]]):
        done = subprocess.run([sys.executable, "-I", "-S", "-c", code, site, "--root",
                               str(cli.root), *args], capture_output=True, text=True, timeout=60)
        assert done.stderr.strip() == "0", (args, done.stderr)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, site, "--root", str(cli.root),
                           "--debug", "state", containers["running"]],
                          capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1]  # libcrun 1.21 also says what it loads
    assert last.split()[1:] == [m for m in heavy if m != "json"], done.stderr


def _delete_facts(cli: Cli, id: str) -> Dict[str, Any]:
    """The state directory, the ownership record and the cgroups it names (with their
    processes) of container id, for an assertion's message."""
    facts: Dict[str, Any] = {}
    state = cli.root / id
    facts["state"] = sorted(os.listdir(state)) if state.is_dir() else None
    try:
        facts["status"] = (state / "status").read_text()
    except OSError as exc:
        facts["status"] = repr(exc)
    try:
        record = (cli.root / ".lxcri" / "owners" / id).read_text()
    except OSError as exc:
        record = repr(exc)
    facts["record"] = record
    for line in record.splitlines():
        if line.startswith("cgroup_dirs="):
            for d in line.partition("=")[2].split("\t"):
                try:
                    facts[d] = Path(d, "cgroup.procs").read_text().split()
                except OSError as exc:
                    facts[d] = repr(exc)
    return facts


class _TracedPosix:
    """A test-only stand-in for the posix module in lxcri.backends.crun.status: each call
    goes to the real posix, and what it returned or raised is noted (repeats counted)."""

    def __init__(self, trace: List[List[Any]]) -> None:
        self._trace = trace

    def __getattr__(self, name: str) -> Any:
        real = getattr(posix, name)
        if not callable(real):
            return real

        def call(*args: Any) -> Any:
            try:
                result = real(*args)
                outcome: Any = result if name in ("kill", "rmdir", "unlink") else "ok"
            except OSError as exc:
                outcome = f"{type(exc).__name__} errno {exc.errno}"
                raise
            finally:
                entry = [name, [str(a) for a in args], str(outcome), 1]
                if self._trace and self._trace[-1][:3] == entry[:3]:
                    self._trace[-1][3] += 1
                else:
                    self._trace.append(entry)
            return result
        return call


@contextlib.contextmanager
def _traced_posix() -> Iterator[List[List[Any]]]:
    """The quick delete's posix calls in lxcri.backends.crun.status while inside, for the
    message of an assertion that it declined: which step said no."""
    from lxcri.backends.crun import status

    trace: List[List[Any]] = []
    saved = status.posix
    status.posix = _TracedPosix(trace)  # type: ignore[assignment]
    try:
        yield trace
    finally:
        status.posix = saved


def test_delete_is_done_quickly_and_leaves_nothing(cli: Cli, make_bundle: Any,
                                                   tmp_path: Path) -> None:
    from support import cgroups_named, state_left

    def gone(id: str) -> None:
        assert state_left(cli.root) == [] or id not in " ".join(state_left(cli.root))
        assert not (cli.root / id).exists()
        assert not (cli.root / ".lxcri" / "owners" / id).exists()
        assert cgroups_named(id) == []

    sleeper = make_bundle("sleep", "100")
    # stopped; created (libcrun deletes it as with --force); running with --force
    stopped, created, running = (new_id(f"quickdel{n}") for n in ("stopped", "created", "running"))
    assert cli("create", "--bundle", str(make_bundle("true")), stopped).returncode == 0
    assert cli("start", stopped).returncode == 0
    wait_status(cli, stopped, "stopped")
    assert cli("create", "--bundle", str(sleeper), created).returncode == 0
    assert cli("create", "--bundle", str(sleeper), running).returncode == 0
    assert cli("start", running).returncode == 0
    pids = {id: json.loads(cli("state", id).stdout)["pid"] for id in (created, running)}
    assert answer(cli, "delete", running) is None  # running, no --force: the full way refuses
    done = cli("delete", running)
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    for id, args in ((stopped, ()), (created, ()), (running, ("--force",))):
        before = _delete_facts(cli, id)  # what the quick way looks at, to say why if it declined
        with _traced_posix() as trace:
            said = answer(cli, "delete", *args, id)
        # A string, not a tuple: pytest would cut a tuple's repr at 240 characters.
        assert said == "", json.dumps({"id": id, "before": before, "calls": trace,
                                       "after": _delete_facts(cli, id)}, indent=1, default=str)
        gone(id)
    for pid in pids.values():
        # Killed: gone, or a zombie until its reaper (this test's subreaper, tini) gets to it.
        deadline = time.monotonic() + 10
        while process_state(pid) not in (None, "Z"):
            assert time.monotonic() < deadline, f"the init {pid} outlived its delete"
            time.sleep(0.01)
    assert answer(cli, "delete", "--force", stopped) is None  # gone: the full way says fine
    assert cli("delete", "--force", stopped).returncode == 0

    # poststop hooks are libcrun's to run: the full way, which runs them.
    mark = tmp_path / "poststop"

    def hooked(spec: Dict[str, Any]) -> None:
        spec["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f": > {mark}"]}]}

    hook = new_id("quickdelhook")
    assert cli("create", "--bundle", str(make_bundle("true", edit=hooked)), hook).returncode == 0
    assert answer(cli, "delete", "--force", hook) is None
    assert cli("delete", "--force", hook).returncode == 0 and mark.exists()
    gone(hook)


def test_the_launcher_imports_lxcri_from_the_byte_code_pack(cli: Cli,
                                                           containers: Dict[str, str]) -> None:
    """The installed launcher's command reads lxcri's modules from the pack (lxcri._pack),
    not one pyc each: of the package's pycs it opens only lxcri._boot's, which the
    launcher runs as the script (launcher/lxcri.c, boot_byte_code), and which puts the
    pack in use before lxcri itself is imported."""
    from support import LXCRI, opened_under_strace

    package = Path(quick.__file__).parents[1]  # lxcri/cli/quick.py
    for args in (["state", containers["running"]], ["list"]):
        done, opened = opened_under_strace([LXCRI, "--root", str(cli.root), *args])
        assert done.returncode == 0, done.stderr
        mine = [p for p in opened if p.startswith(f"{package}/")]
        pycs = sorted({Path(p).name.split(".")[0] for p in mine if p.endswith(".pyc")})
        assert pycs == ["_boot"], mine
        assert any("/__pycache__/lxcri-pack." in p for p in mine), mine
