"""lxcri.host: mountinfo parsing, cgroup facts, and the liblxc driver's state/kill/delete
logic run against a recording host (TEST DOUBLE, tests/doubles/host.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import pytest

from doubles.host import RecordingHost
from lxcri.backends.lxc.liblxc.driver import LiblxcDriver
from lxcri.errors import ContainerNotFound, ContainerStateError
from lxcri.host import cgroup_paths, cgroups, mountinfo

# ------------------------------------------------------------------ mountinfo

def test_mountinfo_undoes_every_octal_escape_in_points_and_roots() -> None:
    text = ("36 35 98:0 /dir\\040one /mnt/a\\040b\\011c\\012d\\134e rw,noatime master:1 - ext3 "
            "/dev/root rw,errors=continue\n"
            "garbage line\n"
            "37 35 0:5 / /mnt/plain\\9x rw - tmpfs tmpfs rw\n")
    first, second = mountinfo.parse(text)
    assert (first.point, first.root, first.fstype, first.options) == (
        "/mnt/a b\tc\nd\\e", "/dir one", "ext3", ["rw", "errors=continue"])
    assert second.point == "/mnt/plain\\9x"  # not an escape: left as it is
    assert mountinfo.unescape("\\303\\251t\\303\\251") == "été"  # bytes, then UTF-8


# ------------------------------------------------------------------ cgroups

def mounts(*lines: str) -> str:
    return "".join(f"{20 + i} 1 0:{i} / {line}\n" for i, line in enumerate(lines))


V2 = mounts("/sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate")
V1 = mounts("/sys/fs/cgroup rw - tmpfs tmpfs rw",
            "/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
            "/sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
HYBRID = V1 + mounts("/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw")


@pytest.mark.parametrize("text, controllers, mode", [
    (V2, "cpu memory pids", "v2"), (V1, None, "v1"), (HYBRID, "", "hybrid"),
    (mounts("/ rw - ext4 /dev/sda1 rw"), None, "none")])
def test_cgroup_mode_classification(text: str, controllers: Optional[str], mode: str) -> None:
    layout = cgroups.layout(mountinfo.parse(text), controllers)
    assert layout["mode"] == mode
    if mode in ("v1", "hybrid"):
        assert layout["v1_controllers"] == ["cpu", "cpuacct", "memory"]
    if mode == "v2":
        assert layout["v2_controllers"] == ["cpu", "memory", "pids"]


def test_a_process_cgroup_directories_per_controller() -> None:
    proc = "12:memory:/lxc/c1\n5:cpu,cpuacct:/lxc/c1\n1:name=systemd:/\n0::/lxc/c1/init\nbad\n"
    assert cgroup_paths.process_paths(proc)[""] == "/lxc/c1/init"
    assert cgroups.directories(proc, mountinfo.parse(HYBRID)) == {
        "memory": "/sys/fs/cgroup/memory/lxc/c1", "cpu": "/sys/fs/cgroup/cpu,cpuacct/lxc/c1",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/lxc/c1", "": "/sys/fs/cgroup/unified/lxc/c1/init"}


def test_a_proxmox_ct_pids_are_every_cgroup_procs_below_its_vmid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "PVE_CT_ROOT", str(tmp_path))
    (tmp_path / "100" / "ns" / "init.scope").mkdir(parents=True)
    (tmp_path / "100" / "cgroup.procs").write_text("")
    (tmp_path / "100" / "ns" / "cgroup.procs").write_text("12\n7\n\n")
    (tmp_path / "100" / "ns" / "init.scope" / "cgroup.procs").write_text("7\n3\n")
    (tmp_path / "101").mkdir()
    (tmp_path / "101" / "cgroup.procs").write_text("99\n")
    assert cgroups.pve_ct_pids(100) == [3, 7, 12]
    assert cgroups.pve_ct_pids(102) == []  # no such CT on this node


# ------------------------------------------------------------------ the liblxc driver's logic

def container(root: Path, id: str, files: Dict[str, str]) -> Path:
    d = root / ".lxcri" / "lxc" / id
    d.mkdir(parents=True)
    (d / "lxcri.json").write_text(json.dumps({"bundle": "/b", "rootfs": "/b/rootfs",
                                              "created": "2026-12-01T00:00:00.000000000Z"}))
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_state_of_a_container_whose_monitor_died_is_stopped(tmp_path: Path) -> None:
    container(tmp_path, "c1", {"lxcri.monitor": "4242 777\n"})
    host = RecordingHost(processes={4242: "778"})  # the pid was reused by another process
    state = json.loads(LiblxcDriver(str(tmp_path), host=host).state_json("c1"))
    assert (state["status"], state["pid"]) == ("stopped", 0)
    assert ("starttime", 4242) in host.calls
    live = RecordingHost(processes={4242: "777"})
    assert LiblxcDriver(str(tmp_path), host=live).state("c1")["status"] == "creating"


def test_running_created_and_paused_come_from_the_host(tmp_path: Path) -> None:
    d = container(tmp_path, "c1", {"lxcri.pid": "100 5 101\n", "lxcri.start": ""})
    host = RecordingHost(processes={100: "5"}, cgroups={100: {"": "/cg/c1"}},
                         files={"/cg/c1/cgroup.events": "populated 1\nfrozen 0\n"})
    driver = LiblxcDriver(str(tmp_path), host=host)
    assert driver.state("c1")["status"] == "created"
    (d / "lxcri.start").unlink()
    assert (driver.state("c1")["status"], driver.state("c1")["pid"]) == ("running", 100)
    host.files["/cg/c1/cgroup.events"] = "populated 1\nfrozen 1\n"
    assert driver.state("c1")["status"] == "paused"
    with pytest.raises(ContainerNotFound):
        driver.state("nope")


def test_kill_of_a_gone_process_is_not_an_error(tmp_path: Path) -> None:
    container(tmp_path, "c1", {"lxcri.pid": "100 5 0\n"})
    host = RecordingHost(processes={100: "5"}, cgroups={100: {"pids": "/cg/pids/c1"}},
                         cgroup_members={"/cg/pids/c1": [100, 102, 103]})
    driver = LiblxcDriver(str(tmp_path), host=host)
    host.processes[103] = "9"  # 102 exited meanwhile
    driver.kill("c1", 15, all=True)
    assert ("kill", 102, 15) in host.calls and host.killed == [(100, 15), (103, 15)]
    del host.processes[100]  # now the init is gone too: the container is stopped
    with pytest.raises(ContainerStateError, match="it is stopped"):
        driver.kill("c1", 9)


def test_kill_of_a_created_container_ends_its_start_hook(tmp_path: Path) -> None:
    container(tmp_path, "c1", {"lxcri.pid": "100 5 101\n", "lxcri.start": ""})
    host = RecordingHost(processes={100: "5", 101: "6"})
    LiblxcDriver(str(tmp_path), host=host).kill("c1", 15)
    assert host.killed == [(100, 15), (101, 9)]


def test_delete_force_thaws_kills_waits_and_removes(tmp_path: Path) -> None:
    d = container(tmp_path, "c1", {"lxcri.pid": "100 5 0\n", "lxcri.monitor": "99 4\n"})
    host = RecordingHost(processes={100: "5"}, cgroups={100: {"freezer": "/cg/f/c1"}},
                         cgroup_members={"/cg/f/c1": [100, 104]})
    driver = LiblxcDriver(str(tmp_path), host=host)
    with pytest.raises(ContainerStateError, match="it is running"):
        driver.delete("c1")
    driver.delete("c1", force=True)
    assert host.written == [("/cg/f/c1/freezer.state", "THAWED")]
    assert host.killed == [(100, 9)] and ("kill", 104, 9) in host.calls
    assert ("wait_gone", 99, 30.0) in host.calls and not d.exists()
