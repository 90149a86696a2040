"""The lxc backend's liblxc driver with real LXC containers, through the lxcri command line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

from lxc_support import (
    LxcCli,
    all_cgroups_named,
    lxc_dir,
    lxc_unavailable_reason,
    pid_alive,
    tree_digest,
)
from support import bundle_factory, copy_rootfs, mounts_under, needs_root, new_id

pytestmark = [pytest.mark.integration, pytest.mark.core]


@pytest.fixture
def lxc_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state root; every lxc container left in it is force-deleted afterwards."""
    needs_root()
    reason = lxc_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the liblxc driver cannot run here: {reason}")
    root = Path(tmp_path_factory.mktemp("lxcstate"))
    yield root
    failed = []
    lxcpath = root / ".lxcri" / "lxc"
    for entry in sorted(os.listdir(lxcpath)) if lxcpath.is_dir() else []:
        proc = LxcCli(root)("delete", "--force", entry)
        if proc.returncode != 0:
            failed.append(f"{entry}: {proc.stderr.strip()}")
    shutil.rmtree(root, ignore_errors=True)
    assert not failed, f"cleanup could not delete containers: {failed}"


@pytest.fixture
def lxc(lxc_root: Path) -> LxcCli:
    return LxcCli(lxc_root)


@pytest.fixture
def private_rootfs(tmp_path: Path, rootfs: Path) -> Path:
    """A copy of the busybox rootfs this test alone uses (its bytes are compared afterwards)."""
    copy = tmp_path / "rootfs"
    copy_rootfs(rootfs, copy)
    copy.chmod(0o755)
    return copy


@pytest.fixture
def lxc_bundle(tmp_path: Path, private_rootfs: Path,
               base_spec: Dict[str, Any]) -> Callable[..., Path]:
    return bundle_factory(tmp_path, private_rootfs, base_spec, "lxcri-lxc")


def wait_status(lxc: LxcCli, id: str, status: str, timeout: float = 20) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        proc = lxc("state", id)
        if proc.returncode == 0:
            state = json.loads(proc.stdout)
            if state["status"] == status:
                return dict(state)
        assert time.monotonic() < deadline, f"{id} never became {status}: {proc.stdout}{proc.stderr}"
        time.sleep(0.05)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_nothing_left(root: Path, id: str, pids: list[int], rootfs: Path) -> None:
    assert not lxc_dir(root, id).exists(), "the LXC directory is left behind"
    for pid in pids:
        wait_for(lambda pid=pid: not pid_alive(pid), f"process {pid} of {id} to end")
    assert mounts_under(rootfs) == []
    assert all_cgroups_named(id) == []


def monitor_pid(root: Path, id: str) -> int:
    return int((lxc_dir(root, id) / "lxcri.monitor").read_text().split()[0])


# --- tests --------------------------------------------------------------------------------

def test_run_exit_code_stdout_hostname_env(lxc: LxcCli, lxc_bundle: Any) -> None:
    def env(spec: Dict[str, Any]) -> None:
        spec["process"]["env"].append("GREETING=hello from lxc")

    bundle = lxc_bundle("sh", "-c", "echo $GREETING on $(hostname), pid $$; exit 7",
                        hostname="lxc-host", edit=env)
    cid = new_id("run")
    proc = lxc("run", "--bundle", str(bundle), cid)
    assert (proc.returncode, proc.stderr) == (7, "")
    assert proc.stdout == "hello from lxc on lxc-host, pid 1\n"
    assert not lxc_dir(lxc.root, cid).exists()  # a foreground run deletes the container


def test_lifecycle_create_start_kill_delete(lxc: LxcCli, lxc_bundle: Any, tmp_path: Path,
                                            private_rootfs: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (private_rootfs / "shared").mkdir()  # the rootfs is read-only: the mount point must exist

    def bind(spec: Dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/shared", "type": "bind",
                               "source": str(shared), "options": ["rbind", "rw"]})

    bundle = lxc_bundle("sh", "-c", "echo ran > /shared/marker; exec sleep 600", edit=bind)
    cid = new_id("life")
    pid_file = tmp_path / "init.pid"
    lxc("create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid, check=True)
    state = lxc.state(cid)
    assert state["status"] == "created"
    assert state["pid"] > 0 and pid_alive(state["pid"])
    assert int(pid_file.read_text()) == state["pid"]
    assert state["bundle"] == str(bundle)
    assert not (shared / "marker").exists()  # the user's process has not run yet

    lxc("start", cid, check=True)
    wait_for(lambda: (shared / "marker").exists(), "the container's process to write /shared")
    assert (shared / "marker").read_text() == "ran\n"
    assert lxc.state(cid)["status"] == "running"
    assert lxc.state(cid)["pid"] == state["pid"]
    assert lxc("start", cid).returncode != 0  # only a created container starts

    assert lxc("delete", cid).returncode != 0  # running: needs --force
    monitor = monitor_pid(lxc.root, cid)
    lxc("kill", cid, "KILL", check=True)
    wait_status(lxc, cid, "stopped")
    # "stopped" is the init's end; the monitor records the exit code once liblxc's start
    # has returned, a moment later (delete waits for the monitor to be gone).
    exit_file = lxc_dir(lxc.root, cid) / "lxcri.exit"
    wait_for(exit_file.exists, "the monitor to record the exit code")
    assert exit_file.read_text().strip() == "137"
    lxc("delete", cid, check=True)
    assert lxc("state", cid).returncode != 0
    assert_nothing_left(lxc.root, cid, [state["pid"], monitor], private_rootfs)


def test_run_killed_by_signal_returns_128_plus_n(lxc: LxcCli, lxc_bundle: Any) -> None:
    cid = new_id("sig")
    fg = subprocess.Popen(lxc.argv("run", "--bundle", str(lxc_bundle("sleep", "600")), cid),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_status(lxc, cid, "running")
        lxc("kill", cid, "KILL", check=True)
        _, err = fg.communicate(timeout=60)
        assert fg.returncode == 137, err
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
    assert not lxc_dir(lxc.root, cid).exists()


def test_kill_term_reaches_the_init(lxc: LxcCli, lxc_bundle: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    bundle = lxc_bundle("sh", "-c", "trap 'echo got TERM; exit 3' TERM; echo up; "
                        "while :; do sleep 0.1; done")
    cid = new_id("term")
    with open(out, "w") as f:
        lxc("create", "--bundle", str(bundle), cid, check=True, stdout=f)
    lxc("start", cid, check=True)
    wait_for(lambda: "up" in out.read_text(), "the container to start its trap")
    lxc("kill", cid, "TERM", check=True)
    wait_status(lxc, cid, "stopped")
    assert out.read_text() == "up\ngot TERM\n"  # the container's stdout was the caller's
    # The monitor records the exit code once liblxc has returned, a moment after the init
    # is gone (and `state` says stopped).
    exit_file = lxc_dir(lxc.root, cid) / "lxcri.exit"
    wait_for(exit_file.exists, "the monitor to record the exit code")
    assert exit_file.read_text().strip() == "3"


def test_memory_limit_is_in_the_containers_cgroup(lxc: LxcCli, lxc_bundle: Any) -> None:
    from lxcri.host import cgroups

    limit = 64 * 1024 * 1024

    def memory(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"]["memory"] = {"limit": limit}
        for kind in ("bounding", "effective", "permitted"):
            # without it, root in the container may not read the cgroup files it sees
            spec["process"]["capabilities"][kind].append("CAP_DAC_OVERRIDE")

    v2 = cgroups.host_hierarchies().get("memory") == 2
    name = "memory.max" if v2 else "memory.limit_in_bytes"
    # v2: the unified mount is /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup on v2
    inside = ("u=/sys/fs/cgroup/unified; [ -d $u ] || u=/sys/fs/cgroup; "
              "cat $u$(grep '^0::' /proc/self/cgroup | cut -d: -f3)/memory.max"
              if v2 else "cat /sys/fs/cgroup/memory$(grep ':memory:' /proc/self/cgroup | "
              "cut -d: -f3)/memory.limit_in_bytes")
    cid = new_id("mem")
    with open(os.devnull, "w") as null:
        lxc("create", "--bundle", str(lxc_bundle("sh", "-c", inside, edit=memory)), cid,
            check=True, stdout=null)
    pid = lxc.state(cid)["pid"]
    directory = cgroups.cgroup_dirs(pid)["" if v2 else "memory"]
    assert cid in directory
    with open(os.path.join(directory, name)) as f:
        assert int(f.read()) == limit
    lxc("delete", cid, check=True)
    proc = lxc("run", "--bundle", str(lxc_bundle("sh", "-c", inside, edit=memory)), new_id("mem"))
    assert (proc.returncode, proc.stdout.strip()) == (0, str(limit)), proc.stderr


def test_exec_ps_pause_resume(lxc: LxcCli, lxc_bundle: Any, tmp_path: Path) -> None:
    cid = new_id("exec")
    with open(os.devnull, "w") as null:
        lxc("create", "--bundle", str(lxc_bundle("sleep", "600")), cid, check=True, stdout=null)
    lxc("start", cid, check=True)
    init = lxc.state(cid)["pid"]
    process = tmp_path / "process.json"
    process.write_text(json.dumps({
        "args": ["sh", "-c", "echo $FOO from $(hostname) as $(id -u):$(id -g); pwd; exit 4"],
        "env": ["PATH=/bin", "FOO=exec"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000},
        "terminal": False}))
    proc = lxc("exec", "--process", str(process), cid)
    assert (proc.returncode, proc.stdout) == (4, "exec from lxcri-lxc as 1000:1000\n/tmp\n")
    ps = lxc("ps", "--format", "json", cid, check=True)
    assert init in json.loads(ps.stdout)
    lxc("pause", cid, check=True)
    assert lxc.state(cid)["status"] == "paused"
    lxc("resume", cid, check=True)
    assert lxc.state(cid)["status"] == "running"
    lxc("pause", cid, check=True)
    monitor = monitor_pid(lxc.root, cid)
    lxc("delete", "--force", cid, check=True)  # a paused container too
    assert not pid_alive(init) and not pid_alive(monitor)


def test_delete_force_leaves_nothing_and_rootfs_unchanged(
        lxc: LxcCli, lxc_bundle: Any, private_rootfs: Path) -> None:
    before = tree_digest(private_rootfs)

    def writable(spec: Dict[str, Any]) -> None:
        spec["root"]["readonly"] = False

    pids = []
    for edit in (None, writable):
        cid = new_id("rm")
        with open(os.devnull, "w") as null:
            lxc("create", "--bundle", str(lxc_bundle("sleep", "600", edit=edit)), cid,
                check=True, stdout=null)
        lxc("start", cid, check=True)
        state = wait_status(lxc, cid, "running")
        pids += [state["pid"], monitor_pid(lxc.root, cid)]
        assert all_cgroups_named(cid) != []  # what must go away exists first
        lxc("delete", "--force", cid, check=True)
        assert_nothing_left(lxc.root, cid, pids, private_rootfs)
    # a created (never started) container, deleted without --force as runc allows
    cid = new_id("rm")
    lxc("create", "--bundle", str(lxc_bundle("true")), cid, check=True)
    pids.append(lxc.state(cid)["pid"])
    lxc("delete", cid, check=True)
    assert_nothing_left(lxc.root, cid, pids, private_rootfs)
    assert tree_digest(private_rootfs) == before


def test_unsupported_config_fails_clearly_and_leaves_nothing(lxc: LxcCli, lxc_bundle: Any) -> None:
    def seccomp(spec: Dict[str, Any]) -> None:
        spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}

    cid = new_id("bad")
    proc = lxc("create", "--bundle", str(lxc_bundle("true", edit=seccomp)), cid)
    assert proc.returncode != 0
    assert "linux.seccomp" in proc.stderr and cid in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not lxc_dir(lxc.root, cid).exists()


def test_failed_start_reports_liblxc_error_and_leaves_nothing(lxc: LxcCli, lxc_bundle: Any,
                                                              private_rootfs: Path) -> None:
    def bad_mount(spec: Dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuchoption=1"]})

    cid = new_id("fail")
    proc = lxc("create", "--bundle", str(lxc_bundle("true", edit=bad_mount)), cid)
    assert proc.returncode != 0
    assert f"cannot create container `{cid}`" in proc.stderr
    assert_nothing_left(lxc.root, cid, [], private_rootfs)


def test_lxc_prefixed_id_is_routed_to_lxc_by_default(lxc: LxcCli, lxc_bundle: Any) -> None:
    cid = "lxc-" + new_id("route")
    with open(os.devnull, "w") as null:
        lxc("create", "--bundle", str(lxc_bundle("sleep", "600")), cid, check=True,
            runtime=None, stdout=null)
    assert lxc_dir(lxc.root, cid).is_dir()  # the lxc backend's state, not crun's
    assert lxc("state", cid, runtime=None, check=True).stdout
    lxc("delete", "--force", cid, runtime=None, check=True)
    assert not lxc_dir(lxc.root, cid).exists()
