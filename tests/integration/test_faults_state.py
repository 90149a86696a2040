"""Faults in the create/delete/list/state lifecycle, on real containers: a create killed -9 at
named points and at a sweep of delays, failed creates, corrupt state files, bad state roots.

Each test asserts what a user sees (exit codes, one-line messages, state JSON, list) and that
nothing is left: no cgroup named after the container on any hierarchy, nothing under the
state root, no process carrying the id. Ids start with `flt-`; the state_root fixture
force-deletes whatever a failing test leaves.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from support import LXCRI, Cli, cgroups_named, process_state, state_left

pytestmark = pytest.mark.core


def new_id(tag: str) -> str:
    return f"flt-{tag}-{uuid.uuid4().hex[:8]}"


def processes_with(id: str) -> List[int]:
    """Processes whose command line names the id: a creating lxcri, or the container's init
    before it executes the user's program (a copy of the lxcri process)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if id.encode() in argv:
            found.append(int(entry))
    return found


def cgroup_pids(id: str) -> List[int]:
    pids: List[int] = []
    for directory in cgroups_named(id):
        for dirpath, _dirs, files in os.walk(directory):
            if "cgroup.procs" in files:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(p) for p in f.read().split()]
    return pids


def assert_nothing_left(root: Path, id: str) -> None:
    assert cgroups_named(id) == [], f"cgroups left for {id}"
    assert state_left(root) == [], f"state left under {root}"
    assert processes_with(id) == [], f"processes left for {id}"


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {stderr!r}"
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


def listed(cli: Cli) -> Dict[str, Dict[str, Any]]:
    table = cli("list", check=True).stdout  # the table must print too
    assert table.startswith("NAME")
    return {e["id"]: e for e in json.loads(cli("list", "--format", "json", check=True).stdout)}


def is_stopped(pid: int) -> bool:
    return process_state(pid) in ("T", "t")


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_stopped(pid: int, timeout: float = 60) -> bool:
    """Wait until process pid, or a child of it, is stopped (state T); False if pid exited
    first. (A hook's `kill -STOP $PPID` stops the process libcrun runs in: the command's
    one-shot zygote, lxcri.backends.crun.zygote.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = process_state(pid)
        if state is None or state == "Z":
            return False
        if state in ("T", "t") or any(process_state(c) in ("T", "t") for c in _children(pid)):
            return True
        time.sleep(0.005)
    raise AssertionError(f"process {pid} neither stopped nor exited in {timeout}s")


def start_create(cli: Cli, id: str, bundle: Path, env: Optional[Dict[str, str]] = None,
                 *extra: str) -> subprocess.Popen[bytes]:
    argv = [LXCRI, "--root", str(cli.root), *extra, "create", "--bundle", str(bundle), id]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def kill_and_reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def check_after_kill(cli: Cli, id: str, bundle: Path, statuses: tuple[str, ...],
                     recreate: Optional[Path] = None) -> str:
    """What must hold after a create of `id` was killed: state answers with valid OCI state
    (or the id never got as far as a record), list shows it with the same status (broken
    for a stopped half-create), delete --force removes everything, a new create works."""
    st = cli("state", id)
    status = "absent"
    if st.returncode == 0:
        doc = json.loads(st.stdout)
        assert {"ociVersion", "id", "status", "pid", "bundle"} <= set(doc)
        assert doc["id"] == id and doc["bundle"] == str(bundle)
        status = doc["status"]
        assert status in statuses, doc
        entry = listed(cli)[id]
        shown = "broken" if status == "stopped" and doc.get("lxcri.problem") else status
        assert entry["status"] == shown, entry
        if status == "stopped":
            assert "lxcri delete" in doc["lxcri.problem"]
            for args in (("kill", id, "KILL"), ("start", id), ("exec", id, "true"),
                         ("ps", id), ("pause", id)):
                k = cli(*args)
                assert k.returncode == 1 and "interrupted" in one_line(k.stderr), args
    else:
        assert "does not exist" in one_line(st.stderr)
        assert id not in listed(cli)
    d = cli("delete", "--force", id)
    assert d.returncode == 0, d.stderr
    assert_nothing_left(cli.root, id)
    cli("create", "--bundle", str(recreate or bundle), id, check=True)
    assert cli.state(id)["status"] == "created"
    cli("delete", "--force", id, check=True)
    assert_nothing_left(cli.root, id)
    return status


# -- 1. kill -9 during create -------------------------------------------------------------------

def stop_parent_hook(spec: Dict[str, Any]) -> None:
    """A createRuntime hook that stops the runtime calling it: libcrun has forked the
    container's init and put it in its cgroups, and has not written its status yet."""
    spec.setdefault("hooks", {})["createRuntime"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "kill -STOP $PPID"]}]


@pytest.mark.parametrize("point", ["intent", "hook", "created"])
def test_create_killed_at_a_named_point(cli: Cli, make_bundle: Any, point: str) -> None:
    id = new_id("kill")
    bundle = make_bundle("sleep", "600", edit=stop_parent_hook if point == "hook" else None)
    env = {"LXCRI_TEST_STOP_AT": point} if point != "hook" else {}
    proc = start_create(cli, id, bundle, env)
    try:
        assert wait_stopped(proc.pid), f"lxcri create exited before reaching {point}"
        if point != "created":  # the creator is alive: the create is in progress
            doc = cli.state(id)
            assert (doc["status"], doc["pid"]) == ("creating", 0)
            assert listed(cli)[id]["status"] == "creating"
            d = cli("delete", id)
            assert d.returncode == 1 and "--force" in one_line(d.stderr)
            assert "being created by lxcri process" in d.stderr
        if point == "hook":
            assert cgroup_pids(id), "the init should be alive in its cgroup at the hook"
    finally:
        kill_and_reap(proc)
    status = check_after_kill(cli, id, bundle, ("stopped", "created"),
                              recreate=make_bundle("sleep", "600"))
    assert status == ("created" if point == "created" else "stopped")


def test_delete_force_kills_a_create_in_progress(cli: Cli, make_bundle: Any) -> None:
    id = new_id("inprog")
    bundle = make_bundle("sleep", "600", edit=stop_parent_hook)
    proc = start_create(cli, id, bundle)
    try:
        assert wait_stopped(proc.pid)
        assert cgroup_pids(id)
        cli("delete", "--force", id, check=True)
        assert proc.wait(timeout=30) == -signal.SIGKILL  # the creator is killed too
    finally:
        if proc.poll() is None:
            kill_and_reap(proc)
    assert_nothing_left(cli.root, id)


def test_create_killed_at_a_sweep_of_delays(cli: Cli, make_bundle: Any) -> None:
    """SIGKILL 5..150 ms into `lxcri create`: every outcome is one of a known few (no record
    yet, a broken half-create, a created container), and always ends with nothing left and
    the id reusable."""
    bundle = make_bundle("sleep", "600")
    seen: Dict[str, int] = {}
    # A create takes about 40 ms here: finer steps where it does its work.
    delays = [*range(5, 50, 3), *range(50, 155, 20)]
    for delay_ms in delays:
        id = new_id(f"d{delay_ms}")
        proc = start_create(cli, id, bundle)
        time.sleep(delay_ms / 1000)
        kill_and_reap(proc)
        status = check_after_kill(cli, id, bundle, ("stopped", "created"))
        seen[status] = seen.get(status, 0) + 1
    print("sweep outcomes:", seen)
    assert sum(seen.values()) == len(delays), seen


# -- 2. failed creates and cgroupsPath ----------------------------------------------------------

# Resources libcrun accepts in config.json and fails on while writing the cgroups it has made.
BAD_RESOURCES = {
    "memory-negative": {"memory": {"limit": -5}},
    "hugetlb-page-size": {"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]},
    "unified-on-v1": {"unified": {"memory.max": "1"}},
    "cpu-period": {"cpu": {"quota": -5, "period": 1}},
    # (not pids.limit -7: crun 1.21 takes a negative limit as "max", 1.8.1 refuses it)
    "device-type": {"devices": [{"allow": False, "type": "q", "access": "rwm"}]},
    "cpuset-cpus": {"cpu": {"cpus": "9999"}},
}


@pytest.mark.parametrize("name", sorted(BAD_RESOURCES))
@pytest.mark.parametrize("op", ["create", "run"])
def test_a_failed_create_leaves_nothing(cli: Cli, make_bundle: Any, name: str, op: str) -> None:
    id = new_id("res")

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = BAD_RESOURCES[name]

    bundle = make_bundle("true", edit=edit)
    proc = cli(op, "--bundle", str(bundle), id)
    assert proc.returncode != 0
    assert f"`{id}`" in one_line(proc.stderr)
    assert_nothing_left(cli.root, id)
    assert "does not exist" in one_line(cli("state", id).stderr)


def test_a_failed_create_through_the_library_leaves_nothing(runtime: Any,
                                                           make_bundle: Any) -> None:
    """The same through lxcri.Runtime, whose libcrun calls run in the sealed helper."""
    from lxcri.errors import LxcriError

    id = new_id("api")

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = BAD_RESOURCES["memory-negative"]

    bundle = str(make_bundle("true", edit=edit))
    for op in (runtime.create, runtime.run):
        with pytest.raises(LxcriError, match="memory"):
            op(id, bundle, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert_nothing_left(Path(runtime.root), id)


def test_a_failed_create_keeps_a_cgroup_that_was_there_before(cli: Cli, make_bundle: Any) -> None:
    id = new_id("pre")
    shared = f"/sys/fs/cgroup/pids/{id}-shared"
    os.mkdir(shared)
    try:
        def edit(spec: Dict[str, Any]) -> None:
            spec["linux"]["cgroupsPath"] = f"/{id}-shared"
            spec["linux"]["resources"] = {"memory": {"limit": -5}}

        proc = cli("create", "--bundle", str(make_bundle("true", edit=edit)), id)
        assert proc.returncode == 1
        assert os.path.isdir(shared)  # not the attempt's to remove
        assert state_left(cli.root) == []
    finally:
        os.rmdir(shared)
    assert cgroups_named(f"{id}-shared") == []  # libcrun made the others: they are removed


@pytest.mark.parametrize("path", ["../flt-escape", "/a/../../flt-escape", "/", "x/./../.."])
def test_cgroups_path_outside_the_hierarchy_is_refused(cli: Cli, make_bundle: Any,
                                                       path: str) -> None:
    id = new_id("cgp")

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["cgroupsPath"] = path

    bundle = make_bundle("true", edit=edit)
    for op in ("create", "run"):
        proc = cli(op, "--bundle", str(bundle), id)
        assert proc.returncode == 1
        line = one_line(proc.stderr)
        assert "linux.cgroupsPath" in line and repr(path) in line
        assert not os.path.exists("/sys/fs/cgroup/flt-escape")
        assert_nothing_left(cli.root, id)


def test_cgroups_path_below_the_hierarchy_works(cli: Cli, make_bundle: Any) -> None:
    id = new_id("cgok")

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["cgroupsPath"] = f"flt-parent/{id}"

    cli("create", "--bundle", str(make_bundle("sleep", "60", edit=edit)), id, check=True)
    assert os.path.isdir(f"/sys/fs/cgroup/pids/flt-parent/{id}")
    cli("delete", "--force", id, check=True)
    assert not os.path.exists(f"/sys/fs/cgroup/pids/flt-parent/{id}")
    for d in sorted(set(cgroups_named("flt-parent"))):  # libcrun leaves the parent, as runc
        os.rmdir(d)


# -- 3. corrupt state ---------------------------------------------------------------------------

def corrupt(kind: str, root: Path, id: str) -> Path:
    status = root / id / "status"
    if kind == "status-empty":
        status.write_text("")
    elif kind == "status-truncated":
        status.write_text(status.read_text()[:40])
    elif kind == "status-garbage":
        status.write_bytes(os.urandom(64) + b"\xff")
    elif kind == "status-object":
        status.write_text('{"pid": 1}')
    elif kind == "config-garbage":
        (root / id / "config.json").write_text("}{")
        return root / id / "config.json"
    elif kind.startswith("record"):
        record = root / ".lxcri" / "owners" / id
        record.write_bytes(b"" if kind == "record-empty" else b"\x00\xfegarbage\n")
        return record
    return status


@pytest.mark.parametrize("kind", ["status-empty", "status-truncated", "status-garbage",
                                  "status-object", "config-garbage"])
def test_corrupt_backend_state(cli: Cli, make_bundle: Any, kind: str) -> None:
    id, other = new_id("bad"), new_id("good")
    bundle = make_bundle("sleep", "600")
    for each in (id, other):
        cli("create", "--bundle", str(bundle), each, check=True)
    cli("start", id, check=True)
    assert cgroup_pids(id)
    path = corrupt(kind, cli.root, id)
    entries = listed(cli)
    assert entries[other]["status"] == "created"  # one corrupt container spoils nothing
    if kind != "config-garbage":  # state does not read config.json
        assert entries[id]["status"] == "corrupt"
        for args in (("state", id), ("kill", id, "KILL"), ("delete", id)):
            proc = cli(*args)
            assert proc.returncode == 1
            line = one_line(proc.stderr)
            assert str(path) in line and "delete --force" in line
            assert line.startswith({"state": "lxcri: cannot read the state",
                                    "kill": "lxcri: cannot send signal",
                                    "delete": "lxcri: cannot delete"}[args[0]])
    assert cgroup_pids(id), "a refused command must not have removed anything"
    d = cli("delete", "--force", id)
    assert d.returncode == 0, d.stderr
    assert cgroups_named(id) == [] and not (cli.root / id).exists()
    assert id not in listed(cli)
    cli("create", "--bundle", str(bundle), id, check=True)  # the id is free again
    for each in (id, other):
        cli("delete", "--force", each, check=True)
    assert_nothing_left(cli.root, id)
    assert_nothing_left(cli.root, other)


@pytest.mark.parametrize("kind", ["record-empty", "record-garbage"])
def test_corrupt_lxcri_record(cli: Cli, make_bundle: Any, kind: str) -> None:
    id = new_id("rec")
    bundle = make_bundle("sleep", "600")
    cli("create", "--bundle", str(bundle), id, check=True)
    corrupt(kind, cli.root, id)
    # libcrun's state is intact: the container still works (crun is the default owner).
    assert cli.state(id)["status"] == "created"
    assert listed(cli)[id]["status"] == "created"
    cli("delete", "--force", id, check=True)
    assert_nothing_left(cli.root, id)


def test_a_corrupt_record_alone_is_listed_and_removed(cli: Cli, make_bundle: Any) -> None:
    """A create killed at its intent, then its record overwritten: list says corrupt,
    state names the record, delete --force removes it."""
    id = new_id("reconly")
    proc = start_create(cli, id, make_bundle("true"), {"LXCRI_TEST_STOP_AT": "intent"})
    try:
        assert wait_stopped(proc.pid)
    finally:
        kill_and_reap(proc)
    record = corrupt("record-garbage", cli.root, id)
    assert listed(cli)[id]["status"] == "corrupt"
    st = cli("state", id)
    assert st.returncode == 1 and str(record) in one_line(st.stderr)
    cli("delete", "--force", id, check=True)
    assert_nothing_left(cli.root, id)


def test_delete_force_of_a_paused_container_with_corrupt_state(cli: Cli,
                                                               make_bundle: Any) -> None:
    id = new_id("frz")
    cli("run", "--detach", "--bundle", str(make_bundle("sleep", "600")), id, check=True)
    cli("pause", id, check=True)
    corrupt("status-garbage", cli.root, id)
    cli("delete", "--force", id, check=True)  # frozen processes are thawed to die
    assert_nothing_left(cli.root, id)


# -- the same faults on the runc backend ---------------------------------------------------------

def runc_cli(cli: Cli) -> Cli:
    if not os.path.exists("/usr/sbin/runc") and not os.path.exists("/usr/bin/runc"):
        pytest.skip("runc is not installed")
    return Cli(cli.root, runtime="runc")


@pytest.mark.parametrize("point", ["intent", "hook"])
def test_runc_create_killed_with_its_process_group(cli: Cli, make_bundle: Any,
                                                   point: str) -> None:
    """An engine's timeout kills lxcri and the runc it runs (the process group): the runc
    container's init is left in its cgroups (the memory one below lxcri's own cgroup)."""
    runc = runc_cli(cli)
    id = new_id("runckill")
    bundle = make_bundle("sleep", "600", edit=stop_parent_hook if point == "hook" else None)
    argv = [LXCRI, "--root", str(cli.root), "create", "--runtime", "runc", "--bundle",
            str(bundle), id]
    env = {**os.environ, **({"LXCRI_TEST_STOP_AT": "intent"} if point == "intent" else {})}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        if point == "intent":
            assert wait_stopped(proc.pid)
        else:  # the hook stops runc, lxcri's child
            deadline = time.monotonic() + 60
            while not cgroup_pids(id) or not any(is_stopped(p) for p in processes_with(id)
                                                 if p != proc.pid):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.01)
        assert runc.state(id)["status"] == "creating"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    doc = runc.state(id)
    assert doc["status"] == "stopped" and "interrupted" in doc["lxcri.problem"]
    assert listed(runc)[id]["status"] == "broken"
    runc("delete", "--force", id, check=True)
    assert_nothing_left(cli.root, id)
    runc("create", "--bundle", str(make_bundle("sleep", "600")), id, check=True)
    assert runc.state(id)["status"] == "created"
    runc("delete", "--force", id, check=True)
    assert_nothing_left(cli.root, id)


@pytest.mark.parametrize("kind", ["empty", "garbage", "object"])
def test_runc_corrupt_state(cli: Cli, make_bundle: Any, kind: str) -> None:
    runc = runc_cli(cli)
    id, other = new_id("runcbad"), new_id("runcgood")
    bundle = make_bundle("sleep", "600")
    for each in (id, other):
        runc("create", "--bundle", str(bundle), each, check=True)
    runc("start", id, check=True)
    assert cgroup_pids(id)
    path = cli.root / ".lxcri" / "runc" / id / "state.json"
    path.write_bytes({"empty": b"", "garbage": b"\x00garbage{", "object": b'{"id": 1}'}[kind])
    entries = listed(runc)
    assert entries[other]["status"] == "created" and entries[id]["status"] == "corrupt"
    for args in (("state", id), ("kill", id, "KILL"), ("delete", id)):
        proc = runc(*args)
        assert proc.returncode == 1
        line = one_line(proc.stderr)
        assert str(path) in line and "delete --force" in line
    assert cgroup_pids(id)
    runc("delete", "--force", id, check=True)
    assert cgroups_named(id) == [] and id not in listed(runc)
    runc("delete", "--force", other, check=True)
    assert_nothing_left(cli.root, id)
    assert_nothing_left(cli.root, other)


@pytest.mark.parametrize("name", ["memory-negative", "cpuset-cpus", "hugetlb-page-size"])
def test_runc_failed_create_leaves_nothing(cli: Cli, make_bundle: Any, name: str) -> None:
    runc = runc_cli(cli)
    id = new_id("runcres")

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = BAD_RESOURCES[name]

    proc = runc("create", "--bundle", str(make_bundle("true", edit=edit)), id)
    assert proc.returncode == 1
    assert_nothing_left(cli.root, id)


# -- 4. state roots and ids ---------------------------------------------------------------------

def before_after(path: Path) -> List[str]:
    return sorted(os.listdir(path))


def test_a_root_that_is_slash_is_refused(tmp_path: Path, make_bundle: Any) -> None:
    link = tmp_path / "to-slash"
    link.symlink_to("/")
    bundle = make_bundle("true")
    before = before_after(Path("/"))
    for root in ("/", str(link), f"{tmp_path}/../../../../../../.."):
        for args in (("create", "--bundle", str(bundle), "flt-root"), ("list",),
                     ("state", "flt-root"), ("delete", "--force", "flt-root")):
            proc = subprocess.run([LXCRI, "--root", root, *args], capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 1, (root, args)
            line = one_line(proc.stderr)
            assert root in line and "--root" in line and "/" in line
    assert before_after(Path("/")) == before


def test_a_root_that_is_a_file_is_refused(tmp_path: Path, make_bundle: Any) -> None:
    file = tmp_path / "file"
    file.write_text("keep me\n")
    link = tmp_path / "to-file"
    link.symlink_to(file)
    for root in (file, link):
        for args in (("create", "--bundle", str(make_bundle("true")), "flt-file"), ("list",)):
            proc = subprocess.run([LXCRI, "--root", str(root), *args], capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 1
            assert "not a directory" in one_line(proc.stderr) and str(root) in proc.stderr
    assert file.read_text() == "keep me\n"


def test_an_unwritable_root_is_refused(tmp_path: Path, make_bundle: Any) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    try:
        bundle = make_bundle("true")
        for root in (ro, ro / "sub" / "dir"):
            for op in ("create", "run"):
                proc = subprocess.run([LXCRI, "--root", str(root), op, "--bundle", str(bundle),
                                       "flt-ro"], capture_output=True, text=True, timeout=60)
                assert proc.returncode == 1
                line = one_line(proc.stderr)
                assert str(root) in line and "read-only" in line and "--root" in line
        assert os.listdir(ro) == []
        assert cgroups_named("flt-ro") == []
    finally:
        subprocess.run(["umount", str(ro)], check=True)


@pytest.mark.parametrize("bad", ["..", ".", "../x", "a/b", "", ".hidden"])
def test_path_like_ids_are_still_refused(cli: Cli, bad: str) -> None:
    for args in (("delete", "--force", bad), ("state", bad), ("kill", bad, "KILL")):
        proc = cli(*args)
        assert proc.returncode != 0
        assert "invalid container id" in one_line(proc.stderr)
    assert cli.root.parent.exists() and state_left(cli.root) == []
